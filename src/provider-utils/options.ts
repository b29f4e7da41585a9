import type { EmbeddingProviderLimits } from "../contracts/embedding-provider.js";
import { InvalidOptionError } from "../errors/invalid-option-error.js";

/**
 * Checks an optional option that must be a positive integer: returns it, or `undefined` when it was
 * not given; anything else throws an {@link InvalidOptionError} naming `option`.
 */
export function optionalPositiveInteger(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(option, `a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a time option in milliseconds: returns it (a positive finite number), or `fallback` when it
 * was not given; anything else throws an {@link InvalidOptionError} naming `option`.
 */
export function timeoutOption(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/**
 * The limits a provider declares: `base` with the user's `limits` option applied, each override
 * checked to be a positive integer (an {@link InvalidOptionError} naming `limits.<field>`).
 */
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
 * Throws an {@link InvalidOptionError} (option `apiKey`, naming `envName` and `service`) when neither
 * has one: call it at creation, so a misconfigured run fails before doing any work.
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
