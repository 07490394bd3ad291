// The router channel's public types (re-exported by ../router-channel.ts).

export interface OverlayAddr {
  /** dotted quad */
  ip: string;
  /** 1..65535 */
  port: number;
}

export interface Announcement {
  clientHost: OverlayAddr;
  clientOverlay: OverlayAddr;
  dst: OverlayAddr;
}

export interface ChannelHandlers {
  /** Which host port serves overlay ip:port here? null if none. */
  lookup(ip: string, port: number): Promise<number | null> | number | null;
  /** A client router is connecting clientHost → our hidden listener for dst, on behalf of clientOverlay. */
  announce(a: Announcement, fromHostId: string): void;
}

export type ChannelErrorCode =
  /** no answer within requestTimeoutMs */
  | 'ETIMEDOUT'
  /** the channel to that peer failed or closed (connect refused, handshake failed, peer hung up…) */
  | 'ECHANNEL'
  /** the peer's lookup handler failed */
  | 'EREMOTE'
  /** too many requests queued while the channel opens */
  | 'EBUSY'
  /** the pool is closed */
  | 'ECLOSED';

export class ChannelError extends Error {
  override name = 'ChannelError';
  constructor(
    readonly code: ChannelErrorCode,
    message: string,
  ) {
    super(message);
  }
}
