// The kernels' public surface: everything outside src/kernels imports from here, so the files
// behind it can be reorganised without touching callers.
export * from "./types.js";
export { mergeTheta } from "./theta.js";
export { clip, sigmoid, softmax } from "./math.js";
export * from "./validate.js";
export {
  computeMarketState,
  DEFAULT_MARKET_STATE_THETA,
  marketStateMinRequired,
  type MarketStateTheta,
  type TrendMethod,
} from "./marketState.js";
export {
  computeStops,
  dominantRegime,
  DEFAULT_STOPS_THETA,
  type RegimeWeights,
  type StopsInput,
  type StopsMarketState,
  type StopsTheta,
} from "./stops.js";
export {
  computeHarvest,
  DEFAULT_HARVEST_THETA,
  type HarvestInput,
  type HarvestP1Proposal,
  type HarvestTheta,
} from "./harvest.js";
