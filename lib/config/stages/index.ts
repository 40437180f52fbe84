import type { StageConfigInput } from '../schema.ts';
import { dev } from './dev.ts';

/** Every deployable stage, by the name passed as `-c stage=<name>`. */
export const STAGES: Readonly<Record<string, StageConfigInput>> = { dev };
