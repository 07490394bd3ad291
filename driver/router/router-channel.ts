// Router ↔ router channels on the underlay: one kept-open TCP connection per peer, authenticated
// with the cluster secret (mutual handshake with fresh nonces, then an HMAC-SHA256 on every frame
// bound to direction, both nonces and a sequence number), 4 KiB messages, anything malformed
// closes the connection. The pieces live in ./channel/: wire (framing), auth (handshake and MACs),
// messages (JSON + zod), connection (one socket), server, pool.
export { RouterChannelServer, type RouterChannelServerOptions } from './channel/server.js';
export { RouterChannelPool, type RouterChannelPoolOptions } from './channel/pool.js';
export { ChannelError, type Announcement, type ChannelErrorCode, type ChannelHandlers, type OverlayAddr } from './channel/types.js';
