-- +goose Up
-- An invoice is an accounting record: when an order completes, the seller's
-- and the payer's billing information, the order's lines and its total are
-- copied here in the completing transaction, so later edits (billing
-- information, prices, user or installer names) reach only later invoices.
-- Each issuer (the order's distributor) numbers its invoices 1, 2, 3, …
-- without gaps: the counter row is bumped in that same transaction, so a
-- rolled-back payment gives its number back.
CREATE TABLE invoice_counters (
    issuer_id  BIGINT PRIMARY KEY REFERENCES accounts(id),
    last_seq   BIGINT NOT NULL CHECK (last_seq >= 1)
);

CREATE TABLE invoices (
    order_id        BIGINT PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
    issuer_id       BIGINT NOT NULL REFERENCES accounts(id),
    seq             BIGINT NOT NULL CHECK (seq >= 1),
    issued_at       TIMESTAMPTZ NOT NULL,
    payer_id        BIGINT,
    order_type      TEXT NOT NULL,
    installer_name  TEXT NOT NULL DEFAULT '',
    project_name    TEXT NOT NULL DEFAULT '-',
    counts          INTEGER NOT NULL,
    total           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    seller_company  TEXT NOT NULL DEFAULT '',
    seller_attn     TEXT NOT NULL DEFAULT '',
    seller_address  TEXT NOT NULL DEFAULT '',
    seller_tel      TEXT NOT NULL DEFAULT '',
    seller_fax      TEXT NOT NULL DEFAULT '',
    seller_email    TEXT NOT NULL DEFAULT '',
    payer_company   TEXT NOT NULL DEFAULT '',
    payer_attn      TEXT NOT NULL DEFAULT '',
    payer_address   TEXT NOT NULL DEFAULT '',
    payer_tel       TEXT NOT NULL DEFAULT '',
    payer_fax       TEXT NOT NULL DEFAULT '',
    payer_email     TEXT NOT NULL DEFAULT '',
    UNIQUE (issuer_id, seq)
);

CREATE TABLE invoice_lines (
    order_id        BIGINT NOT NULL REFERENCES invoices(order_id) ON DELETE CASCADE,
    line            INTEGER NOT NULL,
    user_name       TEXT NOT NULL DEFAULT '',
    item            TEXT NOT NULL,
    description     TEXT NOT NULL,
    service         TEXT NOT NULL DEFAULT 'app',
    months          INTEGER NOT NULL,
    amount          BIGINT NOT NULL,
    new_expires_at  TIMESTAMPTZ,
    PRIMARY KEY (order_id, line)
);

-- Orders completed before this migration: their invoices are made from the
-- billing information saved now (the best there is; the account's own
-- details where none was saved, as the invoice printed them), numbered per
-- issuer in the order they were paid.
INSERT INTO invoices (order_id, issuer_id, seq, issued_at, payer_id, order_type, installer_name, project_name, counts, total, currency,
    seller_company, seller_attn, seller_address, seller_tel, seller_fax, seller_email,
    payer_company, payer_attn, payer_address, payer_tel, payer_fax, payer_email)
SELECT o.id, o.distributor_id,
    ROW_NUMBER() OVER (PARTITION BY o.distributor_id ORDER BY COALESCE(o.paid_at, o.updated_at), o.id),
    COALESCE(o.paid_at, o.updated_at), COALESCE(o.payer_id, o.subdistributor_id), o.type, COALESCE(ia.username, ''), o.project_name,
    o.counts, o.total, o.currency,
    COALESCE(sb.company, sa.company, ''), COALESCE(sb.attn, sa.name, ''), COALESCE(sb.address, ''),
    COALESCE(sb.tel, sa.phone, ''), COALESCE(sb.fax, ''), COALESCE(sb.email, sa.email, ''),
    COALESCE(pb.company, pa.company, ''), COALESCE(pb.attn, pa.name, ''), COALESCE(pb.address, ''),
    COALESCE(pb.tel, pa.phone, ''), COALESCE(pb.fax, ''), COALESCE(pb.email, pa.email, '')
FROM orders o
LEFT JOIN accounts ia ON ia.id = o.installer_id
LEFT JOIN accounts sa ON sa.id = o.distributor_id
LEFT JOIN billing_info sb ON sb.account_id = o.distributor_id
LEFT JOIN accounts pa ON pa.id = COALESCE(o.payer_id, o.subdistributor_id)
LEFT JOIN billing_info pb ON pb.account_id = COALESCE(o.payer_id, o.subdistributor_id)
WHERE o.status = 'completed';

INSERT INTO invoice_counters (issuer_id, last_seq) SELECT issuer_id, MAX(seq) FROM invoices GROUP BY issuer_id;

INSERT INTO invoice_lines (order_id, line, user_name, item, description, service, months, amount, new_expires_at)
SELECT oi.order_id, ROW_NUMBER() OVER (PARTITION BY oi.order_id ORDER BY oi.id), oi.user_name, oi.item,
    CASE oi.item
        WHEN 'community_app' THEN 'Community app (family master)'
        WHEN 'family_member_app' THEN 'Additional family member app'
        WHEN 'property_manager_app' THEN 'Property manager app'
        WHEN 'villa_app' THEN 'Villa app'
        WHEN 'villa_premium' THEN 'Villa premium plan'
        WHEN 'villa_extra_member' THEN 'Villa extra family member'
        WHEN 'office_user' THEN 'Office user'
        ELSE oi.item END,
    oi.service, oi.months, oi.amount, oi.new_expires_at
FROM order_items oi JOIN invoices i ON i.order_id = oi.order_id;

-- +goose Down
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE invoice_counters;
