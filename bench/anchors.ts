/**
 * Figures NOT measured by this suite, printed beside ours so a reader can place them: what
 * FATE publishes for the same tasks (with its hardware), and earlier measurements of this
 * project that the suite does not repeat by default. Per-core numbers divide by every core
 * of the setup, which flatters neither side: both scale close to linearly in cores.
 */
export interface Anchor {
  readonly id: 'fate-psi' | 'fate-lr' | 'jinqiao-psi-10m' | 'apsi-1m' | 'secretflow-ubpsi';
  readonly what: string;
  readonly figure: string;
  readonly perCore: string;
  /** For comparison with our measured per-core figure, in the same unit. */
  readonly perCoreValue: number;
  readonly unit: 'IDs/s per core' | 'core-seconds per epoch' | 'ms per query';
  readonly hardware: string;
  readonly source: string;
}

export const ANCHORS: readonly Anchor[] = [
  {
    id: 'fate-psi',
    what: 'FATE 2.0 ECDH-PSI, 100M × 100M IDs',
    figure: '50m54s (≈ 65,500 IDs/s, both sides)',
    perCore: '≈ 2,050 IDs/s per core',
    perCoreValue: 200_000_000 / 3054 / 32,
    unit: 'IDs/s per core',
    hardware: '2 hosts × 16 cores',
    source: 'published by the FATE project for FATE 2.0 (figures as quoted in README.md; not re-run here)',
  },
  {
    id: 'fate-lr',
    what: 'FATE 2.0 Hetero-Coordinated-LR (Paillier, arbiter), 100,000 rows × (30 + 300) features',
    figure: '2m16s per epoch',
    perCore: '≈ 4,350 core-seconds per epoch',
    perCoreValue: 136 * 32,
    unit: 'core-seconds per epoch',
    hardware: '2 hosts × 16 cores',
    source: 'published by the FATE project for FATE 2.0 (figures as quoted in README.md; not re-run here)',
  },
  {
    id: 'jinqiao-psi-10m',
    what: 'jinqiao PSI, 10M × 10M IDs (x25519, both parties in one process)',
    figure: '936 s, 21,357 IDs/s (both sides), peak RSS 2.6 GiB',
    perCore: '≈ 10,700 IDs/s per core',
    perCoreValue: 21_357 / 2,
    unit: 'IDs/s per core',
    hardware: 'this 2-core machine, measured separately while other work ran on it (rerun with --psi-10m)',
    source: 'earlier run of `jinqiao psi`, not part of this run',
  },
  {
    id: 'apsi-1m',
    what: 'Microsoft APSI (labeled PSI, BFV), one query against 1M records (16M: 2.7 s)',
    figure: '494 ms',
    perCore: '≈ 15.8 core-seconds per query',
    perCoreValue: 494,
    unit: 'ms per query',
    hardware: '32 cores',
    source: 'published by Microsoft for APSI (figures as quoted in the issue and README.md; not re-run here). Its client downloads nothing of the register; jinqiao\'s bank holds the tag file (12 bytes per record)',
  },
  {
    id: 'secretflow-ubpsi',
    what: 'SecretFlow unbalanced PSI (ECDH-OPRF), 20M IDs against 2B, offline phase cached',
    figure: 'online "10多分钟" (a little over 10 minutes)',
    perCore: 'not derivable: the run\'s cores are not stated (8 cores, 16 GB recommended as the minimum)',
    perCoreValue: Number.NaN,
    unit: 'IDs/s per core',
    hardware: 'not stated (8C16G recommended minimum)',
    source: 'SecretFlow\'s Unbalanced PSI benchmark white paper (secret-flow.antgroup.com, developer/benchmark/ubpsi_benchmark); not re-run here',
  },
];
