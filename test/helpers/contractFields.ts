// The output hashes' field names (SPEC §5), for tests that check a hash is whole.
export const MARKETSTATE_FIELDS = ['sigma', 'mu', 'ts', 'p_trend', 'p_mr', 'p_chop', 'dp', 'vr', 'spike_proxy', 'ts_timestamp', 'buffer_size', 'regime_probs'] as const;
export const RISK_FIELDS = [
  'proposed_sl', 'proposed_tp', 'stop_dist_pct', 'tp_dist_pct', 'trail_gap_pct', 'reason_codes', 'ts', 'sigma', 'p_trend',
  'p_mr', 'p_chop', 'computed_at_utc', 'position_side', 'position_age_sec', 'position_current_price',
  'position_entry_price', 'last_update_epoch',
] as const;
export const HARVEST_FIELDS = [
  'harvest_action', 'new_sl_proposed', 'R_net', 'risk_unit', 'cost_est', 'kill_score', 'k_regime_flip', 'k_sigma_spike',
  'k_ts_drop', 'k_age_penalty', 'reason_codes', 'sigma', 'ts', 'p_trend', 'p_mr', 'p_chop', 'computed_at_utc',
  'position_side', 'position_age_sec', 'position_current_price', 'position_entry_price', 'position_unrealized_pnl',
  'policy_version', 'last_update_epoch',
] as const;

/** Output hash key prefix → its contract fields. */
export const OUTPUT_HASHES = [
  { prefix: 'quantum:marketstate:', fields: MARKETSTATE_FIELDS },
  { prefix: 'quantum:risk:proposal:', fields: RISK_FIELDS },
  { prefix: 'quantum:harvest:proposal:', fields: HARVEST_FIELDS },
] as const;
