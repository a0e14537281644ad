// The demo's shop database: what the embedded PostgreSQL is loaded with. Kept as a TypeScript
// string (not a .sql file) so it ships inside dist/ with the CLI. The sensitive columns are
// exactly those the default policy classifies (policies/data/auditgate_config/data.yaml,
// masking.columns): public.customers.{email, phone, ssn, date_of_birth, card_number} and
// public.api_keys.secret; orders, customers and api_keys are production tables there too.
// Every value is made up: example.com/.net/.org addresses, 9xx social security numbers (never
// issued), the card networks' published test numbers (they pass the Luhn check, so the
// gateway's card detector sees them as cards), and key strings that only look like keys.

export const DEMO_DATABASE = 'postgres';

/** The roles the gateway logs in as (its upstream.roles) and what they may do in the catalog. */
export const DEMO_ROLES = { reader: 'auditgate_reader', writer: 'auditgate_writer' } as const;

export const DEMO_SCHEMA_SQL = `
CREATE TABLE customers (
  id            integer PRIMARY KEY,
  name          text NOT NULL,
  email         text NOT NULL,
  phone         text,
  ssn           text,
  date_of_birth date,
  card_number   text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id          integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers (id),
  status      text NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled')),
  total       numeric(10, 2) NOT NULL,
  created_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
  id           integer PRIMARY KEY,
  customer_id  integer NOT NULL REFERENCES customers (id),
  label        text NOT NULL,
  secret       text NOT NULL,
  created_at   timestamptz NOT NULL,
  last_used_at timestamptz
);

INSERT INTO customers (id, name, email, phone, ssn, date_of_birth, card_number) VALUES
  (1, 'Ada Lovelace',      'ada.lovelace@example.com',  '+1-202-555-0141', '912-45-6789', '1985-12-10', '4111111111111111'),
  (2, 'Grace Hopper',      'grace.hopper@example.net',  '+1-202-555-0187', '923-56-7890', '1979-12-09', '5555555555554444'),
  (3, 'Alan Turing',       'alan.turing@example.org',   '+44-20-7946-0958', '934-67-8901', '1990-06-23', '378282246310005'),
  (4, 'Katherine Johnson', 'kjohnson@example.com',      '+1-757-555-0199', '945-78-9012', '1988-08-26', '4012888888881881'),
  (5, 'Edsger Dijkstra',   'edsger@example.nl',         '+31-20-555-0123', '956-89-0123', '1981-05-11', '6011111111111117'),
  (6, 'Barbara Liskov',    'b.liskov@example.com',      '+1-617-555-0110', '967-90-1234', '1992-11-07', '5105105105105100'),
  (7, 'Donald Knuth',      'dek@example.edu',           '+1-650-555-0162', '978-01-2345', '1983-01-10', '4000056655665556'),
  (8, 'Margaret Hamilton', 'mhamilton@example.org',     '+1-617-555-0134', '989-12-3456', '1986-08-17', '2223003122003222');

INSERT INTO orders (id, customer_id, status, total, created_at) VALUES
  (1001, 1, 'delivered', 129.90, now() - interval '40 days'),
  (1002, 2, 'delivered',  54.00, now() - interval '38 days'),
  (1003, 3, 'cancelled',  19.99, now() - interval '35 days'),
  (1004, 1, 'delivered', 310.45, now() - interval '31 days'),
  (1005, 4, 'shipped',    89.00, now() - interval '12 days'),
  (1006, 5, 'cancelled', 240.00, now() - interval '11 days'),
  (1007, 6, 'delivered',  15.25, now() - interval '10 days'),
  (1008, 7, 'shipped',    42.10, now() - interval '9 days'),
  (1009, 8, 'pending',   118.00, now() - interval '3 days'),
  (1010, 2, 'shipped',    76.30, now() - interval '3 days'),
  (1011, 3, 'pending',    12.00, now() - interval '2 days'),
  (1012, 4, 'cancelled',  64.75, now() - interval '2 days'),
  (1013, 5, 'delivered', 199.99, now() - interval '20 days'),
  (1014, 6, 'pending',    33.40, now() - interval '1 day'),
  (1015, 7, 'shipped',   450.00, now() - interval '1 day'),
  (1016, 8, 'pending',    27.80, now() - interval '5 hours');

INSERT INTO api_keys (id, customer_id, label, secret, created_at, last_used_at) VALUES
  (1, 1, 'ci-deploy',      'sk_live_4eC39HqLyjWDarjtT1zdp7dc', now() - interval '90 days', now() - interval '2 hours'),
  (2, 2, 'mobile-app',     'sk_live_51Hx2kLm9QwErTyUiOpAsDfGh', now() - interval '60 days', now() - interval '1 day'),
  (3, 4, 'analytics-sync', 'sk_live_9zYxWvUtSrQpOnMlKjIhGfEd', now() - interval '30 days', NULL),
  (4, 6, 'partner-webhook', 'sk_live_0aBcDeFgHiJkLmNoPqRsTuVw', now() - interval '7 days', now() - interval '10 minutes');

-- The roles the gateway connects as. PGlite runs every connection as its one superuser
-- whatever the startup user (see docs/demo.md), so these grants are not enforced by the
-- embedded database; they are here so the entitlement snapshot, and the packet's access
-- matrix, show what a real server would grant.
CREATE ROLE ${DEMO_ROLES.reader} LOGIN;
CREATE ROLE ${DEMO_ROLES.writer} LOGIN;
GRANT SELECT ON customers, orders, api_keys TO ${DEMO_ROLES.reader};
GRANT SELECT ON customers, orders, api_keys TO ${DEMO_ROLES.writer};
GRANT INSERT, UPDATE, DELETE ON orders TO ${DEMO_ROLES.writer};
`;
