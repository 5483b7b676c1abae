/** Progress of a training job, as the CLI's progress bars and the HTTP API show it. */
export type TrainingProgress =
  | { readonly phase: 'align'; readonly party: string; readonly rows: number }
  | { readonly phase: 'keys' }
  | { readonly phase: 'batch'; readonly epoch: number; readonly epochs: number; readonly batch: number; readonly batches: number }
  | { readonly phase: 'epoch'; readonly epoch: number; readonly epochs: number; readonly loss: number; readonly stop: boolean }
  | { readonly phase: 'evaluate'; readonly rows: number };

export type ProgressListener = (event: TrainingProgress) => void;
