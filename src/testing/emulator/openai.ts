/*
 * OpenAI's wire format (`POST {root}/v1/embeddings`): request rules and limits,
 * `{ error: { message, type, param, code } }` errors, real messages where they are known.
 */
import { type Dialect, type EmbedJob, gatewayPage, isPlainObject, json, type Reply } from "./dialect.js";
import { OPENAI_LIMITS, OPENAI_MODELS } from "./models.js";
import { formatDuration } from "./rate-limiter.js";
import { emulatorTokenCount } from "./tokens.js";

const KEYS = new Set(["input", "model", "encoding_format", "dimensions", "user"]);
const DOCS = "Please check the API reference: https://platform.openai.com/docs/api-reference.";
const ORG = "org-emulator";

function error(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): Reply {
  return json(status, { error: { message, type, param, code } });
}

const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  error(400, message, "invalid_request_error", param, code);

function isTokenArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((t) => Number.isSafeInteger(t) && t >= 0);
}

/** Splits `input` into texts to embed and their token counts; token arrays embed their ids joined by spaces. */
function readInputs(input: unknown): Array<{ text: string; tokens: number }> | Reply {
  const items: unknown[] =
    typeof input === "string" || (isTokenArray(input) && input.length > 0) ? [input] : (input as unknown[]);
  if (!Array.isArray(items) || items.length === 0) return invalid(`'$.input' is invalid. ${DOCS}`);
  if (items.length > OPENAI_LIMITS.maxInputsPerRequest) {
    return invalid(
      `'$.input' is too long: at most ${OPENAI_LIMITS.maxInputsPerRequest} inputs per request, got ${items.length}. ${DOCS}`,
      "input",
    );
  }
  const out: Array<{ text: string; tokens: number }> = [];
  for (const item of items) {
    if (typeof item === "string" && item !== "") out.push({ text: item, tokens: emulatorTokenCount(item) });
    else if (isTokenArray(item) && item.length > 0) out.push({ text: item.join(" "), tokens: item.length });
    else return invalid(`'$.input' is invalid. ${DOCS}`);
  }
  return out;
}

function validate(body: unknown, options: Parameters<Dialect["validate"]>[1]): EmbedJob | Reply {
  if (!isPlainObject(body)) return invalid(`'$' is not of type 'object'. ${DOCS}`);
  for (const key of Object.keys(body)) {
    if (!KEYS.has(key)) return invalid(`Unrecognized request argument supplied: ${key}`);
  }
  const { model, input, encoding_format, dimensions } = body;
  if (typeof model !== "string" || model === "") return invalid("you must provide a model parameter");
  const spec = OPENAI_MODELS[model];
  if (!spec) {
    return error(
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      "invalid_request_error",
      null,
      "model_not_found",
    );
  }
  if (input === undefined) return invalid("'input' is a required property");
  if (encoding_format != null && encoding_format !== "float" && encoding_format !== "base64") {
    return invalid(
      `${JSON.stringify(encoding_format)} is not one of ['float', 'base64'] - 'encoding_format'`,
      "encoding_format",
    );
  }
  let size = options.dimensions(model, spec.dimensions);
  if (dimensions != null) {
    if (!spec.flexibleDimensions)
      return invalid("This model does not support specifying dimensions.", "dimensions");
    if (
      !Number.isSafeInteger(dimensions) ||
      (dimensions as number) < 1 ||
      (dimensions as number) > spec.dimensions
    ) {
      return invalid(
        `Invalid value for 'dimensions' = ${JSON.stringify(dimensions)}. Must be an integer between 1 and ${spec.dimensions}.`,
        "dimensions",
      );
    }
    size = dimensions as number;
  }

  const inputs = readInputs(input);
  if (!Array.isArray(inputs)) return inputs;
  for (const { tokens } of inputs) {
    if (tokens > OPENAI_LIMITS.maxTokensPerInput) {
      return invalid(
        `This model's maximum context length is ${OPENAI_LIMITS.maxTokensPerInput} tokens, however you requested ${tokens} tokens (${tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
        "input",
        "context_length_exceeded",
      );
    }
  }
  const total = inputs.reduce((sum, i) => sum + i.tokens, 0);
  if (total > OPENAI_LIMITS.maxTokensPerRequest) {
    return invalid(
      `Requested ${total} tokens, max ${OPENAI_LIMITS.maxTokensPerRequest} tokens per request`,
      null,
      "max_tokens_per_request",
    );
  }
  const format = encoding_format === "base64" && !options.openaiIgnoresEncodingFormat ? "base64" : "float";
  return { model, inputs, dimensions: size, format, dtype: "float" };
}

/** OpenAI's dialect. */
export const openaiDialect: Dialect = {
  api: "openai",
  rateLimitHeaders: true,
  notFound: (method, path) => error(404, `Invalid URL (${method} ${path})`, "invalid_request_error"),
  unauthorized: (missing) =>
    missing
      ? error(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.",
          "invalid_request_error",
        )
      : error(
          401,
          "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
          "invalid_request_error",
          null,
          "invalid_api_key",
        ),
  forbidden: () =>
    error(
      403,
      "Country, region, or territory not supported",
      "request_forbidden",
      null,
      "unsupported_country_region_territory",
    ),
  invalidJson: () =>
    invalid(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    ),
  validate,
  rateLimited: (model, refusal) => {
    const [unit, abbr] = refusal.reason === "requests" ? ["requests", "RPM"] : ["tokens", "TPM"];
    const where = `Rate limit reached for ${model} in organization ${ORG} on ${unit} per min (${abbr})`;
    const more = "Visit https://platform.openai.com/account/rate-limits to learn more.";
    const message =
      refusal.reason === "too_large"
        ? `Request too large for ${model} in organization ${ORG} on tokens per min (TPM): Limit ${refusal.limit}, Requested ${refusal.requested}. The input or output tokens must be reduced in order to run successfully. ${more}`
        : `${where}: Limit ${refusal.limit}, Used ${refusal.used}, Requested ${refusal.requested}. Please try again in ${formatDuration(refusal.waitMs ?? 0)}. ${more}`;
    return error(429, message, unit, null, "rate_limit_exceeded");
  },
  serverError: (status) => {
    if (status === 502 || status === 504) return gatewayPage(status);
    return status === 500
      ? error(500, "The server had an error while processing your request. Sorry about that!", "server_error")
      : error(503, "The engine is currently overloaded, please try again later.", "server_error");
  },
  insufficientQuota: () =>
    error(
      429,
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
      "insufficient_quota",
      null,
      "insufficient_quota",
    ),
  success: (job, embeddings) => {
    const tokens = job.inputs.reduce((sum, input) => sum + input.tokens, 0);
    return {
      object: "list",
      data: embeddings.map((embedding, index) => ({ object: "embedding", index, embedding })),
      model: job.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  },
};
