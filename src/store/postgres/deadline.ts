/** A wait for the database that took longer than its bound. */
export class DeadlineExceeded extends Error {}

/**
 * `work`, or a DeadlineExceeded rejection after `ms`; the work itself is left to settle on its own
 * (a late failure of abandoned work is nobody's to handle). For waits on a server that may stop
 * answering without closing its connections.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`the database did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
