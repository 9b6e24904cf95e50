// Step config schemas per module type: one place the journey builder's writes are validated.
import type { z } from "zod";
import type { ModuleType } from "../runs/types.ts";
import { emailStepConfig } from "./email/config.ts";
import { meetingStepConfig } from "./meeting/config.ts";
import { smsStepConfig } from "./sms/config.ts";
import { formStepConfig } from "./form/config.ts";
import { infoStepConfig } from "./info/config.ts";
import { referralStepConfig } from "./referral/config.ts";
import { reviewStepConfig } from "./review/config.ts";

/** The config schema of each module type that is implemented. */
export const stepConfigSchemas: Partial<Record<ModuleType, z.ZodType>> = {
  email: emailStepConfig,
  meeting: meetingStepConfig,
  sms: smsStepConfig,
  form: formStepConfig,
  info: infoStepConfig,
  review: reviewStepConfig,
  referral: referralStepConfig,
};
