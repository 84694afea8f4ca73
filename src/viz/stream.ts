// Server-Sent Events for /viz/events: the full table on connect (`init`), then at most one
// `delta` per interval carrying only the rows that changed since the last one, and the
// timeline's records since the last delta (numbered: a page that has one already drops it).
//
// Why throttled deltas and not one message per inspection event: at 1,000 symbols × 3 phases a
// busy second has tens of thousands of snapshots; the browser needs the latest row state a few
// times a second, not every step. A client that cannot keep up (its unsent buffer passes
// `maxBufferedBytes`) is cut off; EventSource reconnects and starts again from a fresh `init`.
import type { IncomingMessage, ServerResponse } from "node:http";
import type {
  ActorSummary,
  RegistryChange,
  SupervisorSummary,
  SystemActorSummary,
  TimelineEntry,
  VizRegistry,
} from "./registry.js";

export interface VizStreamOptions {
  /** Minimum time between two deltas. */
  intervalMs?: number;
  /** A comment line this often keeps idle connections (and proxies) open. */
  keepAliveMs?: number;
  maxBufferedBytes?: number;
}

export interface InitMessage {
  supervisor: SupervisorSummary;
  actors: ActorSummary[];
  /** The supervisor and the klines follower. */
  system: SystemActorSummary[];
  /** The system-wide timeline, oldest first. */
  timeline: TimelineEntry[];
  intervalMs: number;
}

export interface DeltaMessage {
  supervisor?: SupervisorSummary;
  actors: ActorSummary[];
  system?: SystemActorSummary[];
  /** Timeline records since the last delta, oldest first. */
  timeline?: TimelineEntry[];
}

export function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class VizStream {
  readonly intervalMs: number;
  private readonly keepAliveMs: number;
  private readonly maxBufferedBytes: number;
  private readonly clients = new Set<ServerResponse>();
  private readonly dirty = new Set<string>();
  private supervisorDirty = false;
  private systemDirty = false;
  /** The newest timeline record already sent to every client. */
  private sentSeq = 0;
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private quietTicks = 0;

  constructor(
    private readonly registry: VizRegistry,
    options: VizStreamOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 500;
    this.keepAliveMs = options.keepAliveMs ?? 15_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Turns `res` into an event stream: headers, `init`, then deltas until the client leaves. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    if (this.clients.size === 0) this.start();
    this.clients.add(res);
    const init: InitMessage = {
      supervisor: this.registry.supervisor(),
      actors: this.registry.actors(),
      system: this.registry.system(),
      timeline: this.registry.timeline(),
      intervalMs: this.intervalMs,
    };
    res.write(`retry: 2000\n${sseMessage("init", init)}`);
    const drop = (): void => this.remove(res);
    req.once("close", drop);
    res.once("close", drop);
  }

  /** Sends one delta of everything changed since the last one (called by the timer; tests call it directly). */
  flush(): void {
    const timelineNews = this.registry.timelineSeq > this.sentSeq;
    if (this.dirty.size === 0 && !this.supervisorDirty && !this.systemDirty && !timelineNews) {
      if (++this.quietTicks * this.intervalMs >= this.keepAliveMs) {
        this.quietTicks = 0;
        this.broadcast(": keep-alive\n\n");
      }
      return;
    }
    this.quietTicks = 0;
    const actors: ActorSummary[] = [];
    for (const key of this.dirty) {
      const summary = this.registry.summaryOf(key);
      if (summary) actors.push(summary);
    }
    this.dirty.clear();
    const delta: DeltaMessage = { actors };
    // Always: it also carries the theta in force, which changes without a supervisor transition.
    delta.supervisor = this.registry.supervisor();
    if (this.supervisorDirty || this.systemDirty) delta.system = this.registry.system();
    if (timelineNews) {
      delta.timeline = this.registry.timelineSince(this.sentSeq);
      this.sentSeq = this.registry.timelineSeq;
    }
    this.supervisorDirty = false;
    this.systemDirty = false;
    this.broadcast(sseMessage("delta", delta));
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    for (const res of [...this.clients]) {
      this.remove(res);
      res.end();
    }
  }

  private broadcast(text: string): void {
    for (const res of [...this.clients]) {
      if (res.writableLength > this.maxBufferedBytes) {
        this.remove(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }

  private start(): void {
    this.unsubscribe = this.registry.subscribe((change: RegistryChange) => {
      if (change.kind === "actor") this.dirty.add(change.key);
      else if (change.kind === "supervisor") this.supervisorDirty = true;
      else this.systemDirty = true;
    });
    // Records before the first client arrive in its `init`.
    this.sentSeq = this.registry.timelineSeq;
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  private remove(res: ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (this.clients.size > 0) return;
    // Nobody watching: stop collecting changes.
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.dirty.clear();
    this.supervisorDirty = false;
    this.systemDirty = false;
  }
}
