// The live visualizer's HTTP routes, mounted on the service's HTTP server by `run --inspect`:
//   GET /viz               the page (self-contained; see page.ts)
//   GET /viz/machine.json  the publisher machine: toJSON, the diagram model and its layout
//   GET /viz/machine.svg   the diagram alone
//   GET /viz/actors        every actor's summary and the supervisor's state (JSON)
//   GET /viz/actor?key=risk:BTCUSDT   one actor's summary and recent transitions
//   GET /viz/events        Server-Sent Events: `init`, then throttled `delta`s
import { randomBytes } from 'node:crypto';
import { publisherMachine } from '../../machines/publisher.js';
import { sendJson, sendText, type Route } from '../http/server.js';
import { layoutMachine } from './layout.js';
import { machineModel } from './machineModel.js';
import { contentSecurityPolicy, vizPageTemplate } from './page.js';
import type { VizRegistry } from './registry.js';
import { VizStream, type VizStreamOptions } from './stream.js';
import { renderSvg } from './svg.js';

export type VizRoutesOptions = VizStreamOptions;

export function vizRoutes(source: VizRegistry, options: VizRoutesOptions = {}): Route[] {
  // The machine does not change while the process runs: draw it once.
  const model = machineModel(publisherMachine);
  const layout = layoutMachine(model);
  const machineJson = { machine: publisherMachine.toJSON(), model, layout };
  const standaloneSvg = renderSvg(layout, { standalone: true });
  const template = vizPageTemplate({
    title: 'quantum-calc · live state machines',
    machineId: model.machineId,
    svg: renderSvg(layout, { counts: true }),
  });
  const stream = new VizStream(source, options);

  return [
    {
      method: 'GET',
      path: '/viz',
      handler(_req, res) {
        const nonce = randomBytes(16).toString('base64');
        res.setHeader('Content-Security-Policy', contentSecurityPolicy(nonce));
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Referrer-Policy', 'no-referrer');
        sendText(res, 200, template.replaceAll('__NONCE__', nonce), 'text/html; charset=utf-8');
      },
    },
    {
      method: 'GET',
      path: '/viz/machine.json',
      handler(_req, res) {
        sendJson(res, 200, machineJson);
      },
    },
    {
      method: 'GET',
      path: '/viz/machine.svg',
      handler(_req, res) {
        sendText(res, 200, standaloneSvg, 'image/svg+xml; charset=utf-8');
      },
    },
    {
      method: 'GET',
      path: '/viz/actors',
      handler(_req, res) {
        sendJson(res, 200, { supervisor: source.supervisor(), actors: source.actors() });
      },
    },
    {
      method: 'GET',
      path: '/viz/actor',
      handler(_req, res, url) {
        const key = url.searchParams.get('key');
        if (key === null || key === '') {
          sendJson(res, 400, { error: 'query parameter key is required, e.g. /viz/actor?key=risk:BTCUSDT' });
          return;
        }
        const actor = source.actor(key);
        if (actor === null) {
          sendJson(res, 404, { error: 'no such actor', key });
          return;
        }
        sendJson(res, 200, actor);
      },
    },
    {
      method: 'GET',
      path: '/viz/events',
      handler(req, res) {
        stream.attach(req, res);
      },
    },
  ];
}
