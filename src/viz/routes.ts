// The live visualizer's HTTP routes, mounted on the service's HTTP server by `run --inspect`:
//   GET /viz               the page (self-contained; see page.ts)
//   GET /viz/machine.json  a machine (?machine=publisher|supervisor|klinesFollower, default
//                          publisher): toJSON, the diagram model and its layout
//   GET /viz/machine.svg   that diagram alone
//   GET /viz/actors        every actor's summary, the supervisor's state and the system actors (JSON)
//   GET /viz/actor?key=risk:BTCUSDT   one actor's summary, recent transitions and context
//                          (also key=supervisor, key=follower:klines)
//   GET /viz/timeline      the system-wide timeline, newest first
//   GET /viz/events        Server-Sent Events: `init`, then throttled `delta`s
// `viz --recording DIR` mounts vizReplayRoutes instead: the same page in replay mode, the same
// machine routes, and the recording's steps (see recording.ts):
//   GET /viz/recording                  the overview: span, actors and their step counts
//   GET /viz/recording/steps?key=K      one actor's steps (time, event, from → to, cycle)
//   GET /viz/recording/step?key=K&index=I   one step with its context and its cycle
//   GET /viz/recording/timeline?at=T[&seq=S][&limit=N]   every actor's steps up to then, newest
//                          first, and every actor's state then
import { randomBytes } from "node:crypto";
import { sendJson, sendText, type Route } from "../http/server.js";
import { MACHINES, type MachineName } from "./diagram.js";
import { layoutMachine, type MachineLayout } from "./layout.js";
import { machineModel, type MachineModel } from "./machineModel.js";
import { contentSecurityPolicy, vizPageTemplate, type PageDiagram } from "./page.js";
import type { ReplayModel } from "./recording.js";
import type { VizRegistry } from "./registry.js";
import { VizStream, type VizStreamOptions } from "./stream.js";
import { renderSvg } from "./svg.js";

export type VizRoutesOptions = VizStreamOptions;

/** The page's diagrams, in the order drawn. */
export const PAGE_MACHINES: readonly MachineName[] = ["publisher", "supervisor", "klinesFollower"];

interface Drawn {
  name: MachineName;
  model: MachineModel;
  layout: MachineLayout;
  machineJson: unknown;
  standaloneSvg: string;
}

// The machines do not change while the process runs: lay each out once (ELK, asynchronously),
// the first time a visualizer is mounted.
let drawings: Promise<Map<MachineName, Drawn>> | null = null;

function drawAll(): Promise<Map<MachineName, Drawn>> {
  drawings ??= Promise.all(
    PAGE_MACHINES.map(async (name): Promise<Drawn> => {
      const machine = MACHINES[name];
      const model = machineModel(machine);
      const layout = await layoutMachine(model);
      return {
        name,
        model,
        layout,
        machineJson: { machine: machine.toJSON(), model, layout },
        standaloneSvg: renderSvg(layout, { standalone: true }),
      };
    }),
  ).then((list) => new Map(list.map((d) => [d.name, d])));
  return drawings;
}

const machineParam = (url: URL): MachineName | null => {
  const name = url.searchParams.get("machine") ?? "publisher";
  return (PAGE_MACHINES as readonly string[]).includes(name) ? (name as MachineName) : null;
};

/** The page, once the diagrams are laid out. */
function pageOf(
  ready: Promise<Map<MachineName, Drawn>>,
  title: string,
  mode: "live" | "replay",
): Promise<string> {
  const page = ready.then((drawn) =>
    vizPageTemplate({
      title,
      mode,
      diagrams: PAGE_MACHINES.map((name): PageDiagram => {
        const d = drawn.get(name)!;
        return {
          name,
          machineId: d.model.machineId,
          svg: renderSvg(d.layout, { counts: true, idPrefix: `viz-${name}` }),
        };
      }),
    }),
  );
  // A failed layout is reported by the routes that need it (500), not as an unhandled rejection.
  page.catch(() => undefined);
  return page;
}

/** /viz, /viz/machine.json and /viz/machine.svg: the same in both modes. */
function pageRoutes(ready: Promise<Map<MachineName, Drawn>>, page: Promise<string>): Route[] {
  const drawing = async (url: URL, res: Parameters<Route["handler"]>[1]): Promise<Drawn | null> => {
    const name = machineParam(url);
    if (name === null) {
      sendJson(res, 400, {
        error: `unknown machine; one of ${PAGE_MACHINES.join(", ")}`,
        machine: url.searchParams.get("machine"),
      });
      return null;
    }
    return (await ready).get(name)!;
  };

  return [
    {
      method: "GET",
      path: "/viz",
      async handler(_req, res) {
        const template = await page;
        const nonce = randomBytes(16).toString("base64");
        res.setHeader("Content-Security-Policy", contentSecurityPolicy(nonce));
        res.setHeader("X-Content-Type-Options", "nosniff");
        res.setHeader("Referrer-Policy", "no-referrer");
        sendText(res, 200, template.replaceAll("__NONCE__", nonce), "text/html; charset=utf-8");
      },
    },
    {
      method: "GET",
      path: "/viz/machine.json",
      async handler(_req, res, url) {
        const d = await drawing(url, res);
        if (d) sendJson(res, 200, d.machineJson);
      },
    },
    {
      method: "GET",
      path: "/viz/machine.svg",
      async handler(_req, res, url) {
        const d = await drawing(url, res);
        if (d) sendText(res, 200, d.standaloneSvg, "image/svg+xml; charset=utf-8");
      },
    },
  ];
}

export function vizRoutes(source: VizRegistry, options: VizRoutesOptions = {}): Route[] {
  const ready = drawAll();
  const page = pageOf(ready, "quantum-calc · live state machines", "live");
  const stream = new VizStream(source, options);
  return [
    ...pageRoutes(ready, page),
    {
      method: "GET",
      path: "/viz/actors",
      handler(_req, res) {
        sendJson(res, 200, {
          supervisor: source.supervisor(),
          actors: source.actors(),
          system: source.system(),
        });
      },
    },
    {
      method: "GET",
      path: "/viz/actor",
      handler(_req, res, url) {
        const key = url.searchParams.get("key");
        if (key === null || key === "") {
          sendJson(res, 400, {
            error: "query parameter key is required, e.g. /viz/actor?key=risk:BTCUSDT",
          });
          return;
        }
        const actor = source.detail(key);
        if (actor === null) {
          sendJson(res, 404, { error: "no such actor", key });
          return;
        }
        sendJson(res, 200, actor);
      },
    },
    {
      method: "GET",
      path: "/viz/timeline",
      handler(_req, res) {
        sendJson(res, 200, { timeline: source.timeline().reverse() });
      },
    },
    {
      method: "GET",
      path: "/viz/events",
      handler(req, res) {
        stream.attach(req, res);
      },
    },
  ];
}

const TIMELINE_LIMIT = 150;

/** `viz --recording`: the page in replay mode over a replayed recording. */
export function vizReplayRoutes(model: ReplayModel): Route[] {
  const ready = drawAll();
  const page = pageOf(ready, "quantum-calc · recording", "replay");
  const keyOf = (url: URL, res: Parameters<Route["handler"]>[1]): string | null => {
    const key = url.searchParams.get("key");
    if (key === null || key === "") {
      sendJson(res, 400, {
        error: "query parameter key is required, e.g. key=risk:BTCUSDT",
      });
      return null;
    }
    return key;
  };
  /**
   * A numeric query parameter (a whole number unless `fractional`: recorded times may have a
   * fraction of a millisecond); a bad one is answered 400 naming it and its value.
   */
  const intParam = (
    url: URL,
    res: Parameters<Route["handler"]>[1],
    name: string,
    required: boolean,
    fractional = false,
  ): number | null | undefined => {
    const raw = url.searchParams.get(name);
    if (raw === null || raw === "") {
      if (!required) return null;
      sendJson(res, 400, { error: `query parameter ${name} is required` });
      return undefined;
    }
    const n = Number(raw);
    if (fractional ? !Number.isFinite(n) : !Number.isSafeInteger(n)) {
      sendJson(res, 400, {
        error: `query parameter ${name} must be ${fractional ? "a number" : "an integer"}`,
        [name]: raw,
      });
      return undefined;
    }
    return n;
  };
  return [
    ...pageRoutes(ready, page),
    {
      method: "GET",
      path: "/viz/recording",
      handler(_req, res) {
        sendJson(res, 200, model.overview());
      },
    },
    {
      method: "GET",
      path: "/viz/recording/steps",
      handler(_req, res, url) {
        const key = keyOf(url, res);
        if (key === null) return;
        const steps = model.steps(key);
        if (steps === null) sendJson(res, 404, { error: "no such actor in the recording", key });
        else sendJson(res, 200, steps);
      },
    },
    {
      method: "GET",
      path: "/viz/recording/step",
      handler(_req, res, url) {
        const key = keyOf(url, res);
        if (key === null) return;
        const index = intParam(url, res, "index", true);
        if (index == null) return;
        const step = model.step(key, index);
        if (step === null) sendJson(res, 404, { error: "no such step", key, index });
        else sendJson(res, 200, step);
      },
    },
    {
      method: "GET",
      path: "/viz/recording/timeline",
      handler(_req, res, url) {
        const at = intParam(url, res, "at", true, true);
        if (at == null) return;
        const seq = intParam(url, res, "seq", false);
        if (seq === undefined) return;
        const limit = intParam(url, res, "limit", false);
        if (limit === undefined) return;
        if (limit !== null && limit < 1) {
          sendJson(res, 400, { error: "query parameter limit must be at least 1", limit });
          return;
        }
        sendJson(res, 200, {
          timeline: model.timeline(at, seq, Math.min(limit ?? TIMELINE_LIMIT, 1000)),
          states: model.statesAt(at, seq),
        });
      },
    },
  ];
}
