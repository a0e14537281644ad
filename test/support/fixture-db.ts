// The database the gateway's integration tests run against: a real PostgreSQL (the machine's,
// 127.0.0.1:5432), a dedicated database with the tables the default policy classifies, and the
// two upstream roles the default policy hands out. Idempotent and safe for parallel test files.
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const FIXTURE_DB = 'auditgate_it';
const VERSION = 4; // bump when the schema or seed below changes

const SCHEMA = `
DROP SCHEMA IF EXISTS public, billing, scratch CASCADE;
CREATE SCHEMA public; CREATE SCHEMA billing; CREATE SCHEMA scratch;
CREATE TABLE public.customers (
  id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text UNIQUE, card_number text,
  phone text, date_of_birth date);
CREATE TABLE public.orders (
  id serial PRIMARY KEY, customer_id int REFERENCES public.customers(id), status text NOT NULL DEFAULT 'open',
  total numeric(10,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.order_items (id serial PRIMARY KEY, order_id int REFERENCES public.orders(id), sku text, qty int);
CREATE TABLE public.users (id serial PRIMARY KEY, email text, password_hash text, api_key text);
CREATE TABLE public.api_keys (id serial PRIMARY KEY, name text, secret text);
CREATE TABLE billing.payment_methods (id serial PRIMARY KEY, customer_id int, card_number text, cardholder_name text);
CREATE TABLE scratch.notes (id serial PRIMARY KEY, body text);
CREATE TABLE scratch.big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 50000) g;
CREATE VIEW public.customer_contacts AS SELECT id, name, email FROM public.customers;
INSERT INTO public.customers (name, email, ssn, card_number, phone, date_of_birth) VALUES
  ('Ada Lovelace', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111', '+1-555-0100', '1815-12-10'),
  ('Alan Turing', 'alan@example.org', '987-65-4321', '5500 0000 0000 0004', '+1-555-0101', '1912-06-23');
INSERT INTO public.orders (customer_id, status, total) SELECT 1 + (g % 2), 'open', g FROM generate_series(1, 20) g;
INSERT INTO public.users (email, password_hash, api_key) VALUES ('ops@example.com', 'x', 'sk_live_51HxQ2JfA8vX9b0cDeFgHiJk');
INSERT INTO public.api_keys (name, secret) VALUES ('ci', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789');
INSERT INTO scratch.notes (body) VALUES ('hello');
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditgate_reader') THEN CREATE ROLE auditgate_reader LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditgate_writer') THEN CREATE ROLE auditgate_writer LOGIN; END IF;
END $$;
GRANT USAGE ON SCHEMA public, billing, scratch TO auditgate_reader, auditgate_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public, billing, scratch TO auditgate_reader;
GRANT ALL ON ALL TABLES IN SCHEMA public, billing, scratch TO auditgate_writer;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public, billing, scratch TO auditgate_writer;
GRANT CREATE ON SCHEMA scratch TO auditgate_writer;
CREATE TABLE public.fixture_version (v int); INSERT INTO public.fixture_version VALUES (${VERSION});
`;

async function withClient<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let ready: Promise<void> | undefined;

/** Creates (or refreshes) the fixture database; resolves when it is ready. */
export function ensureFixtureDb(): Promise<void> {
  ready ??= (async () => {
    await withClient('postgres', async (c) => {
      await c.query('SELECT pg_advisory_lock(4242)');
      try {
        const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [FIXTURE_DB]);
        if (exists.rowCount === 0) await c.query(`CREATE DATABASE ${FIXTURE_DB}`);
        await withClient(FIXTURE_DB, async (db) => {
          const v = await db.query(`SELECT to_regclass('public.fixture_version') IS NOT NULL AS ok`);
          const current = v.rows[0].ok ? (await db.query('SELECT v FROM public.fixture_version')).rows[0]?.v : null;
          if (current !== VERSION) await db.query(SCHEMA);
        });
      } finally {
        await c.query('SELECT pg_advisory_unlock(4242)');
      }
    });
  })();
  return ready;
}

/** Runs SQL directly against the fixture database (as postgres), bypassing the gateway. */
export function directQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return withClient(FIXTURE_DB, (c) => c.query(sql, params));
}

/** Runs SQL in the `postgres` database as postgres: CREATE/DROP DATABASE for a test's own databases. */
export async function serverQuery(sql: string): Promise<void> {
  await withClient('postgres', (c) => c.query(sql));
}
