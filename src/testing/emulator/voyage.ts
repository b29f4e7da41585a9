/*
 * Voyage's wire format (`POST {root}/v1/embeddings`): request rules and limits, `{ detail }` errors.
 * Messages follow the real ones where they are documented (the batch-token message is exact).
 */
import { type Dialect, type EmbedJob, gatewayPage, isPlainObject, json, type Reply } from "./dialect.js";
import type { OutputDtype } from "./encoding.js";
import { VOYAGE_MAX_INPUTS, VOYAGE_MODELS } from "./models.js";
import { emulatorTokenCount, emulatorTruncate } from "./tokens.js";

const DTYPES: readonly OutputDtype[] = ["float", "int8", "uint8", "binary", "ubinary"];

const detail = (status: number, message: string, headers?: Record<string, string>): Reply =>
  json(status, { detail: message }, headers);

function validate(body: unknown, options: Parameters<Dialect["validate"]>[1]): EmbedJob | Reply {
  if (!isPlainObject(body)) return detail(400, "The request body must be a JSON object.");
  if ("dimensions" in body) {
    return detail(
      400,
      "Argument 'dimensions' is not supported. Use 'output_dimension' to choose the output dimension.",
    );
  }

  const { model, input, input_type, truncation, encoding_format, output_dtype, output_dimension } = body;
  if (typeof model !== "string" || model === "") return detail(400, "Argument 'model' is required.");
  const spec = VOYAGE_MODELS[model];
  if (!spec) {
    return detail(
      400,
      `Model ${model} is not supported. Supported models are ${Object.keys(VOYAGE_MODELS).join(", ")}.`,
    );
  }

  const texts = typeof input === "string" ? [input] : input;
  if (!Array.isArray(texts) || texts.length === 0) {
    return detail(400, "Argument 'input' must be a string or a non-empty list of strings.");
  }
  if (texts.length > VOYAGE_MAX_INPUTS) {
    return detail(
      400,
      `The max allowed number of inputs per request is ${VOYAGE_MAX_INPUTS}. Your batch has ${texts.length} inputs.`,
    );
  }
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== "string") return detail(400, `Input at index ${i} is not a string.`);
    if (texts[i] === "")
      return detail(400, `Input at index ${i} is an empty string. Empty strings are not allowed.`);
  }

  if (input_type != null && input_type !== "query" && input_type !== "document") {
    return detail(400, "Argument 'input_type' must be None, 'query' or 'document'.");
  }
  if (truncation != null && typeof truncation !== "boolean") {
    return detail(400, "Argument 'truncation' must be a boolean.");
  }
  if (encoding_format != null && encoding_format !== "base64") {
    return detail(400, "Argument 'encoding_format' must be None or 'base64'.");
  }
  const dtype = (output_dtype ?? "float") as OutputDtype;
  if (!DTYPES.includes(dtype)) {
    return detail(400, `Argument 'output_dtype' must be one of ${DTYPES.map((d) => `'${d}'`).join(", ")}.`);
  }
  if (dtype !== "float" && !spec.quantization) {
    return detail(400, `Model ${model} does not support output_dtype '${dtype}'. Only 'float' is supported.`);
  }
  let dimensions = options.dimensions(model, spec.dimensions);
  if (output_dimension != null) {
    if (spec.outputDimensions.length < 2) {
      return detail(400, `Model ${model} does not support the argument 'output_dimension'.`);
    }
    if (typeof output_dimension !== "number" || !spec.outputDimensions.includes(output_dimension)) {
      return detail(
        400,
        `Argument 'output_dimension' must be one of ${spec.outputDimensions.join(", ")} for model ${model}.`,
      );
    }
    dimensions = output_dimension;
  }

  const counts = (texts as string[]).map(emulatorTokenCount);
  if (truncation === false) {
    const over = counts.findIndex((n) => n > spec.maxTokensPerInput);
    if (over >= 0) {
      return detail(
        400,
        `Input at index ${over} has ${counts[over]} tokens, which exceeds the context length of ${spec.maxTokensPerInput} tokens for ${model}. Set truncation to true or shorten the input.`,
      );
    }
  }
  // The batch limit is checked on the untruncated counts: stricter than truncated ones, which fails safe.
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total > spec.maxTokensPerRequest) {
    return detail(
      400,
      `The max allowed tokens per submitted batch is ${spec.maxTokensPerRequest}. Your batch has ${total} tokens`,
    );
  }

  return {
    model,
    inputs: (texts as string[]).map((text, i) => {
      if (counts[i]! <= spec.maxTokensPerInput) return { text, tokens: counts[i]! };
      const truncated = emulatorTruncate(text, spec.maxTokensPerInput);
      return { text: truncated, tokens: emulatorTokenCount(truncated) };
    }),
    dimensions,
    format: encoding_format === "base64" ? "base64" : "float",
    dtype,
  };
}

/** Voyage's dialect. */
export const voyageDialect: Dialect = {
  api: "voyage",
  rateLimitHeaders: false,
  notFound: (method, path) =>
    path === "/v1/embeddings" ? detail(405, `Method Not Allowed (${method})`) : detail(404, "Not Found"),
  unauthorized: (missing) =>
    detail(
      401,
      missing
        ? "No API key provided. Set the Authorization header to 'Bearer <key>'."
        : "Provided API key is invalid.",
    ),
  forbidden: () => detail(403, "Forbidden: this API key cannot be used with this host."),
  invalidJson: () => detail(400, "The request body is not valid JSON."),
  validate,
  rateLimited: (model, refusal) => {
    const unit = refusal.reason === "requests" ? "requests" : "tokens";
    if (refusal.reason === "too_large") {
      return detail(
        429,
        `Request too large for ${model}: ${refusal.requested} tokens, but your limit is ${refusal.limit} tokens per minute. Reduce the batch size.`,
      );
    }
    return detail(
      429,
      `You have exceeded your rate limit of ${refusal.limit} ${unit} per minute for ${model}. Please slow down and try again later.`,
    );
  },
  serverError: (status) => {
    if (status === 502 || status === 504) return gatewayPage(status);
    return status === 500
      ? detail(500, "Internal Server Error. Please retry after a short wait.")
      : detail(503, "The service is temporarily overloaded. Please retry after a short wait.");
  },
  insufficientQuota: () => detail(403, "Forbidden: insufficient balance."),
  success: (job, embeddings) => ({
    object: "list",
    data: embeddings.map((embedding, index) => ({ object: "embedding", embedding, index })),
    model: job.model,
    usage: { total_tokens: job.inputs.reduce((sum, input) => sum + input.tokens, 0) },
  }),
};
