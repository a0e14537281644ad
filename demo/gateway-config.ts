// The demo gateway's configuration, written into the output folder as an ordinary
// auditgate.yaml (docs/configuration.md): the demo loads it with the same loader as
// `auditgate proxy --config`, and whoever reads it sees every choice the demo made. Paths are
// relative to the file's folder, so the folder can be moved; the ports are the run's own.
import { writeFile } from 'node:fs/promises';
import { relative, dirname } from 'node:path';
import type { DevIssuer } from '../proxy/identity/dev-issuer.js';
import type { DemoLayout } from './output-dir.js';
import { DEMO_DATABASE, DEMO_ROLES } from './schema.js';

export const DEMO_GATEWAY_ID = 'demo-gw';
/** session.target and the environment the policy sees: production, so production rules apply. */
export const DEMO_TARGET = 'demo-shop';

export interface DemoConfigInput {
  layout: DemoLayout;
  dev: DevIssuer;
  upstream: { host: string; port: number };
  control: { url: string };
}

const q = (s: string): string => JSON.stringify(s);

export async function writeDemoConfig(input: DemoConfigInput): Promise<string> {
  const { layout, dev } = input;
  const rel = (p: string): string => relative(dirname(layout.config), p);
  const text = `# Written by \`auditgate demo\`: the gateway the demo ran (docs/demo.md). The embedded
# PostgreSQL's ports belong to that run; everything else is an ordinary gateway config
# (docs/configuration.md).
listen:
  host: 127.0.0.1
  port: 0                          # any free port (printed by the demo)

identity:
  issuers:
    # The development issuer whose tokens the demo mints (\`auditgate token --dir ${rel(layout.devIssuer)}\`).
    # Never trust a development issuer in production.
    - issuer: ${q(dev.issuer)}
      audience: ${q(dev.audience)}
      jwks_file: ${rel(dev.jwksPath)}
      algorithms: [${dev.algorithm}]

policy:
  # The default bundle with change_window.action set to approval (see docs/demo.md).
  bundle: ${rel(layout.bundle)}
  reload: off

upstream:
  name: ${DEMO_TARGET}
  environment: production
  host: ${input.upstream.host}
  port: ${input.upstream.port}     # PGlite behind @electric-sql/pglite-socket
  database: ${DEMO_DATABASE}
  tls:
    mode: disable                  # PGlite's socket server speaks no TLS; it listens on 127.0.0.1 only
  roles:
    ${DEMO_ROLES.reader}:
      user: ${DEMO_ROLES.reader}
      password: null               # PGlite asks for no password (and runs every connection as its superuser)
    ${DEMO_ROLES.writer}:
      user: ${DEMO_ROLES.writer}
      password: null
  catalog_role: ${DEMO_ROLES.reader}

masking:
  default_method: redact
  # PGlite runs one transaction at a time: a catalog lookup waits behind a session's open
  # transaction. A long cache keeps lookups rare once the demo's tables are known.
  catalog_cache_seconds: 3600

approvals:
  mode: hold                       # the agent's session waits while an approver decides
  store:
    url: ${q(input.control.url)}   # a second PGlite: the control database
  max_wait_seconds: 300
  admin:
    enabled: true
    host: 127.0.0.1
    port: 0                        # any free port (printed by the demo)

recording:
  dir: ${rel(layout.segments)}
  mode: strict
  gateway_id: ${DEMO_GATEWAY_ID}
  signing_key_file: ${rel(layout.segmentKey)}
  public_key_file: ${rel(layout.segmentPublicKey)}

log:
  level: info
  format: text
`;
  await writeFile(layout.config, text);
  return layout.config;
}
