-- What the Alipay provider reads from the merchant's book: the trade number of the payment
-- an order was paid with, and the Alipay account a contact is paid to. Both optional.

ALTER TABLE orders ADD COLUMN alipay_trade_no TEXT
    CHECK (length(alipay_trade_no) BETWEEN 1 AND 64 AND alipay_trade_no NOT GLOB '*[^A-Za-z0-9]*');

-- {identity, identity_type, name?}: `payee_info` of a transfer.
ALTER TABLE contacts ADD COLUMN alipay_payee TEXT;
