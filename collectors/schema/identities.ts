// The identity directory: people, agents and services exported from the IdP, so the access
// matrix can name the humans behind tokens and the owners of agents. One import per file
// landed (`auditgate collect identities`); imports coexist, the newest is the current view.
import { createTableSql, type TableDef } from '../duck-append.js';
import type { SchemaPart } from './part.js';

export const directoryImports: TableDef = {
  name: 'directory_imports',
  primaryKey: 'import_id',
  columns: [
    { name: 'import_id', type: 'VARCHAR', notNull: true },
    { name: 'imported_at', type: 'TIMESTAMPTZ', notNull: true },
    { name: 'source_file', type: 'VARCHAR', notNull: true }, // the file's name, without its folder
    { name: 'format', type: 'VARCHAR', notNull: true }, // csv|json
    { name: 'sha256', type: 'VARCHAR', notNull: true }, // of the file's bytes, hex
    { name: 'row_count', type: 'INTEGER', notNull: true },
  ],
};

export const directoryIdentities: TableDef = {
  name: 'directory_identities',
  columns: [
    { name: 'import_id', type: 'VARCHAR', notNull: true },
    { name: 'line', type: 'INTEGER', notNull: true }, // where the row starts in the file, to trace it back
    { name: 'subject', type: 'VARCHAR', notNull: true }, // the JWT sub
    { name: 'display_name', type: 'VARCHAR' },
    { name: 'email', type: 'VARCHAR' },
    { name: 'kind', type: 'VARCHAR', notNull: true }, // human|agent|service
    { name: 'owner', type: 'VARCHAR' }, // the human accountable for an agent or service
    { name: 'groups', type: 'VARCHAR[]', notNull: true },
    { name: 'status', type: 'VARCHAR', notNull: true }, // active|disabled
    { name: 'created_at', type: 'TIMESTAMPTZ' },
    { name: 'disabled_at', type: 'TIMESTAMPTZ' },
  ],
};

export const identitiesSchema: SchemaPart = {
  name: 'identities',
  version: 1,
  statements: [directoryImports, directoryIdentities].map(createTableSql),
};
