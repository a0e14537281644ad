/** A client (or server) broke the wire protocol: the connection ends with SQLSTATE 08P01. */
export class ProtocolError extends Error {
  readonly sqlstate = '08P01';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}
