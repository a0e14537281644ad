// The upstream connection: see docs/upstream.md.
export * from './connect.js';
export { md5PasswordResponse } from './auth.js';
