import { z } from 'zod';
import { durationForm, parseDurationSeconds } from '../time/duration';

/** A duration in the configuration file or environment: ISO 8601, greater than zero, at most the bound; one schema for every section. */
export const durationSetting = z.string().refine((v) => parseDurationSeconds(v) !== undefined, { message: `not a valid duration; accepted: ${durationForm}` });
