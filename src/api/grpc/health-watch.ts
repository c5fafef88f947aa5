import * as grpc from '@grpc/grpc-js';

/**
 * grpc.health.v1 Watch needs no credentials (load balancers call it before any handshake matters),
 * so it is bounded: at most `maxWatchers` streams at once (more get RESOURCE_EXHAUSTED), each ended
 * (OK) after `maxLifetimeMs`; health clients then simply watch again.
 */
export interface HealthWatchLimits {
  maxWatchers: number;
  maxLifetimeMs: number;
}

export const DEFAULT_HEALTH_WATCH_LIMITS: HealthWatchLimits = { maxWatchers: 64, maxLifetimeMs: 300_000 };

type WatchCall = grpc.ServerWritableStream<{ service: string }, { status: string }>;

export function boundedHealthWatch(limits: HealthWatchLimits) {
  const statuses = new Map<string, string>();
  const watchers = new Map<WatchCall, () => void>();
  const send = (call: WatchCall) => call.write({ status: statuses.get(call.request.service) ?? 'SERVICE_UNKNOWN' });
  return {
    setStatus(service: string, status: string): void {
      if (statuses.get(service) === status) return;
      statuses.set(service, status);
      for (const call of watchers.keys()) if (call.request.service === service) send(call);
    },
    handler(call: WatchCall): void {
      if (watchers.size >= limits.maxWatchers) {
        // 'error' sends the status (a destroyed stream would send none).
        const details = `at most ${limits.maxWatchers} health watchers at once`;
        call.emit('error', Object.assign(new Error(details), { code: grpc.status.RESOURCE_EXHAUSTED, details }));
        return;
      }
      const finish = (end: boolean) => {
        if (!watchers.delete(call)) return;
        clearTimeout(timer);
        if (end) call.end();
      };
      const timer = setTimeout(() => finish(true), limits.maxLifetimeMs);
      watchers.set(call, () => finish(true));
      call.on('cancelled', () => finish(false));
      send(call);
    },
    /** Ends every watch (at shutdown). */
    close(): void {
      for (const end of [...watchers.values()]) end();
    },
  };
}
