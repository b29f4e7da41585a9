import type { EmbeddingProviderLimits } from "../contracts/embedding-provider.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";

/** `value`, checked to be a positive integer, or `undefined` when it is. */
export function optionalPositiveInteger(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(option, `a positive integer, got ${String(value)}`);
  }
  return value;
}

/** `value` (milliseconds), checked to be a positive finite number; `fallback` when `undefined`. */
export function timeoutOption(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/** The declared limits with the user's overrides applied, each checked. */
export function mergeLimits(
  base: EmbeddingProviderLimits,
  overrides: Partial<EmbeddingProviderLimits> | undefined,
): EmbeddingProviderLimits {
  return Object.freeze({
    maxInputsPerRequest:
      optionalPositiveInteger("limits.maxInputsPerRequest", overrides?.maxInputsPerRequest) ??
      base.maxInputsPerRequest,
    maxTokensPerRequest:
      optionalPositiveInteger("limits.maxTokensPerRequest", overrides?.maxTokensPerRequest) ??
      base.maxTokensPerRequest,
    maxTokensPerInput:
      optionalPositiveInteger("limits.maxTokensPerInput", overrides?.maxTokensPerInput) ??
      base.maxTokensPerInput,
  });
}

/**
 * The API key from the option or, when that is absent or empty, the environment variable `envName`.
 * Throws when neither has one, at creation, so a misconfigured run fails before doing any work.
 */
export function loadApiKey(apiKey: string | undefined, envName: string, service: string): string {
  const key = apiKey || (typeof process === "undefined" ? undefined : process.env[envName]);
  if (typeof key !== "string" || key.trim() === "") {
    throw new InvalidOptionError(
      "apiKey",
      `a ${service} API key: pass \`apiKey\` or set the ${envName} environment variable`,
    );
  }
  return key;
}

/** `baseURL` without trailing slashes, checked to be an http(s) URL. */
export function baseURLOption(value: string | undefined, fallback: string): string {
  const url = (value ?? fallback).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/i.test(url)) {
    throw new InvalidOptionError("baseURL", `an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return url;
}
