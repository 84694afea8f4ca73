import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { createLogger } from "../log.js";
import {
  startService,
  StartAbortedError,
  wallClock,
  type ServiceHandle,
} from "../service/service.js";
import { createServiceMetrics } from "../metrics/serviceMetrics.js";
import { seedHarvestGauges } from "../metrics/publishedHarvest.js";
import { metricsRoute, operatorRoutes } from "../http/operatorRoutes.js";
import { registerWriteHealthMetrics } from "../http/health.js";
import { startupHealth } from "../http/startupRoutes.js";
import { startHttpServer, type HttpServerHandle, type Route } from "../http/server.js";
import { reloadOnHangup } from "./sighup.js";
import { startWatchdog } from "../watchdog/watchdog.js";
import { VizRegistry } from "../viz/registry.js";
import { vizRoutes } from "../viz/routes.js";
import { addConfigOptions, flagsToConfig } from "./runOptions.js";
import { ShadowReport } from "../shadow/shadow.js";
import type { ServiceHooks } from "../service/service.js";
import { LeaseHeldError } from "../lease/index.js";
import { registerRecorderMetrics } from "../recorder/serviceRecorder.js";

/** A second SIGINT while shutting down: the shell's convention for an interrupted command. */
export const INTERRUPTED_EXIT = 128 + 2;

/** SIGTERM must end the process within this long (systemd's TimeoutStopSec is a bit above). */
const SHUTDOWN_DEADLINE_MS = 10_000;

export function registerRun(program: Command): void {
  addConfigOptions(
    program
      .command("run")
      .description(
        "Run the supervisor: marketstate, risk and harvest publishers for every symbol, until SIGTERM.",
      )
      .option(
        "--once",
        "one chained pass per symbol, then exit: 0 all published/skipped, 1 an I/O or compute error, 2 bad usage, 5 another instance holds the single-writer lease",
      )
      .option(
        "--shadow",
        "compute every phase from the live inputs but write NOTHING to Redis (no HSET, DEL, EXPIRE, XADD, no lease); log every field that differs from the hash there now (old → new); with --once a summary table at the end (stderr), in run the quantum_calc_shadow_* metrics (with --http-port)",
      ),
  )
    .option("--inspect", "serve the live state-machine visualizer at /viz (needs --http-port)")
    .addHelpText(
      "after",
      `
Shadow mode (the switch-over's first step, deploy/MIGRATION.md): \`run --once --shadow --config /etc/quantum/quantum-calc.json\` beside the old services, then \`run --shadow\` for a while; numbers compare as numbers (1800.0 = 1800, 2.48386e-05 = 0.0000248386), None = "", timestamps are not compared.
Exit codes: 0 ok · 1 I/O or compute error (--once), or the HTTP port cannot be bound · 2 bad usage/config · 3 restart budget exhausted · 4 event loop blocked (watchdog; SIGKILL instead when stuck in a native call) · 5 --once: another instance holds the single-writer lease (named on stderr); nothing was run
Environment: the old services' names are accepted (REDIS_URL, SYMBOLS, PUBLISH_INTERVAL_SEC, …; see docs/configuration.md).`,
    )
    .action(async (opts: Record<string, unknown>) => {
      const configFile = opts.config as string | undefined;
      const { config } = loadConfig({ flags: flagsToConfig(opts), configFile });
      if (config.inspect && config.httpPort === null && opts.once !== true) {
        throw new CliError(
          "--inspect needs --http-port (config httpPort): the visualizer is served at http://<http-host>:<http-port>/viz",
          ExitCode.USAGE,
        );
      }
      const once = opts.once === true;
      const shadowMode = opts.shadow === true;
      // In shadow mode every line says so: a journal read later cannot take it for the real service.
      const rootLogger = createLogger({ level: config.logLevel });
      const logger = shadowMode ? rootLogger.child({ mode: "shadow" }) : rootLogger;
      // The live visualizer's registry, fed by XState inspection of the supervisor and its children.
      const viz = config.inspect && !once ? new VizRegistry({ now: wallClock }) : null;
      // --once serves no HTTP: it runs beside the installed service, whose port is taken, and ends
      // within seconds — nothing would scrape it.
      const serveHttp = config.httpPort !== null && !once;
      if (once && config.inspect)
        logger.warn("--once serves no HTTP: the visualizer (inspect) is off for this pass");
      // /metrics is fed by the service hooks, so it exists only when the HTTP server will.
      const metrics = serveHttp
        ? createServiceMetrics({
            phases: config.phases,
            symbols: config.symbols,
            now: wallClock,
            shadow: shadowMode,
          })
        : null;
      // Shadow mode: the report compares every proposal with Redis (src/shadow/shadow.ts); it learns from
      // the cycles why a key was not compared (a skip), for the --once table.
      const shadow = shadowMode ? new ShadowReport({ logger }) : null;
      if (shadow && metrics)
        shadow.onComparison((comparison) => metrics.hooks.onShadow(comparison));
      const hooks: ServiceHooks | undefined =
        shadow === null
          ? metrics?.hooks
          : {
              ...metrics?.hooks,
              onCycle: (event, nowMs) => {
                shadow.noteCycle(event);
                metrics?.hooks.onCycle(event, nowMs);
              },
            };
      // Signals are handled from the start: a SIGTERM while the first connection is still being
      // made (up to connectTimeoutMs) must also end in a clean exit 0, not death by signal.
      let handle: ServiceHandle | null = null;
      const starting = new AbortController();
      let signals = 0;
      // SIGHUP (src/commands/sighup.ts): never a death (Node's default). The policy is re-read now and the
      // config file validated; config changes apply on restart. Installed first and never removed.
      let reloading = false;
      const onHangup = (): void => {
        const service = handle;
        if (service === null || signals > 0) {
          logger.info(
            { signal: "SIGHUP" },
            `SIGHUP ignored: the service is ${signals > 0 ? "shutting down" : "starting (it reads the config and the policy now)"}`,
          );
          return;
        }
        if (reloading) {
          logger.info(
            { signal: "SIGHUP" },
            "SIGHUP ignored: the previous one is still being handled",
          );
          return;
        }
        reloading = true;
        void reloadOnHangup({
          running: config,
          reread: () => loadConfig({ flags: flagsToConfig(opts), configFile }).config,
          configFile,
          reloadPolicy: () => service.reloadPolicy(),
          logger,
        }).finally(() => {
          reloading = false;
        });
      };
      process.on("SIGHUP", onHangup);
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          // A second Ctrl-C is the operator giving up on the drain: 128 + SIGINT, as a shell
          // reports an interrupted command. A second SIGTERM (systemd sends one) stays a clean 0.
          const code = signal === "SIGINT" ? INTERRUPTED_EXIT : ExitCode.OK;
          logger.warn({ signal, exitCode: code }, "second signal: exiting now");
          logger.flush?.();
          process.exit(code);
        }
        logger.info({ signal }, "shutting down: finishing in-flight publishes");
        if (handle) handle.shutdown();
        else starting.abort();
        setTimeout(() => {
          logger.error("shutdown deadline passed; exiting");
          process.exit(ExitCode.OK);
        }, SHUTDOWN_DEADLINE_MS).unref();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      // HTTP first (not with --once): /healthz and /metrics answer from the start — 503 `starting`
      // naming what start-up waits for — rather than refusing connections during a slow start.
      const startupHttp = serveHttp
        ? startupHealth({ now: wallClock, startedAtMs: wallClock() })
        : null;
      const writeMetrics = metrics ? registerWriteHealthMetrics(metrics.registry) : null;
      let http: HttpServerHandle | null = null;
      if (serveHttp && config.httpPort !== null && startupHttp !== null && metrics !== null) {
        const routes: Route[] = [
          metricsRoute(metrics),
          ...startupHttp.routes,
          ...(viz ? vizRoutes(viz) : []),
        ];
        try {
          http = await startHttpServer({
            host: config.httpHost,
            port: config.httpPort,
            routes,
            logger,
          });
        } catch (err) {
          // Exit 1, not 2: the port may be held by a process still shutting down; systemd retries.
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
          throw new CliError(
            `cannot serve HTTP on ${config.httpHost}:${config.httpPort}: ${(err as Error).message}`,
            ExitCode.FAILURE,
          );
        }
      }
      try {
        handle = await startService({
          config,
          logger,
          once,
          hooks,
          inspect: viz?.inspect,
          signal: starting.signal,
          onStartup: (what) => startupHttp?.waitingFor(what),
          ...(shadow ? { shadow } : {}),
        });
      } catch (err) {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        await http?.close();
        if (err instanceof StartAbortedError) {
          logger.info("stopped before the service started");
          process.exitCode = ExitCode.OK;
          // Nothing of the service runs; a connection still closing must not hold the exit.
          setTimeout(() => process.exit(ExitCode.OK), 1000).unref();
          return;
        }
        logger.flush?.();
        throw new CliError(
          (err as Error).message,
          err instanceof LeaseHeldError ? ExitCode.LEASE_HELD : ExitCode.FAILURE,
        );
      }
      const service = handle;
      // A signal after start-up's last check, before the handle was ours: shut down now.
      if (starting.signal.aborted) service.shutdown();
      if (metrics && startupHttp) {
        // The same probes and checker operatorRoutes gives a started service; its routes are ours.
        startupHttp.started(operatorRoutes({ handle: service, metrics, now: wallClock }).health);
        writeMetrics?.setRoleProbe(() => service.role());
      }
      // The flight recorder's counters (quantum_calc_recorder_*), read at scrape time: its drops
      // (a full disk, slow I/O) show on /metrics, as its warning says. Only when it records.
      const recorder = service.recorder;
      if (metrics && recorder !== null)
        registerRecorderMetrics(metrics.registry, () => recorder.stats());
      if (viz) {
        viz.setPolicyProbe(() => service.policy.describe(wallClock()));
        viz.setRoleProbe(() => service.role());
      }
      // The exporter's harvest gauges from the hashes already published, not only after the first
      // harvest publishes (src/metrics/publishedHarvest.ts): its kill-score alert fires at once.
      const seeding =
        metrics === null
          ? null
          : seedHarvestGauges({ store: service.readStore, target: metrics, logger });
      if (http !== null) service.adopt({ http });
      // --once ends on its own; the watchdog is for the long-running service.
      if (!once)
        service.adopt({ watchdog: startWatchdog({ thresholdSec: config.watchdogSec, logger }) });
      const output = await service.done;
      seeding?.stop();
      // The supervisor has ended (SIGTERM, --once finished, or escalation): HTTP, watchdog, store.
      await service.close();
      if (shadow) {
        logger.info(
          { shadowSummary: shadow.summary(), totals: shadow.totals() },
          `shadow: ${shadow.headline()}`,
        );
        // The table is for the operator at the terminal: stderr, so stdout stays JSON lines.
        if (once) process.stderr.write(shadow.table());
      }
      if (once)
        logger.info(
          { counts: service.stats.summary(), exitCode: output.exitCode },
          `--once finished: ${output.reason}`,
        );
      else logger.info({ exitCode: output.exitCode }, output.reason);
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      process.exitCode = output.exitCode;
      // Nothing should be left running; if something is, do not let it hold the exit.
      setTimeout(() => process.exit(output.exitCode), 1000).unref();
    });
}
