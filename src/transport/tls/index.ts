/**
 * Mutual-TLS channels between parties on their own premises. Certificate generation lives
 * in certificates.ts, imported directly by the tools that make identities, so that a
 * running service does not load the X.509 encoder and its global Reflect polyfill.
 */
export { TlsChannel, INBOX_HIGH_WATER_BYTES } from './channel.ts';
export { DEFAULT_TIMEOUT_MS, type Pem, type TlsPartyConfig } from './config.ts';
export { connectChannel, type ConnectOptions } from './connect.ts';
export { listenChannels, type ListenOptions, type TlsListener, type TlsRefusal } from './listen.ts';
