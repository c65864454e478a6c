import Support

/// What `POST /chat/completions` passes on to a provider, and the caps on it.
package enum CompletionsPolicy {
    /// The request fields forwarded to a provider. Anything else (`user`, `service_tier`,
    /// `store`, `metadata`, ...) is dropped: the caller spends the admin's key, not their own.
    package static let forwardedCompletionFields: Set<String> = [
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens", "max_completion_tokens",
        "stop", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "response_format",
        "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort"
    ]

    package static func forwardedFields(_ object: [String: JSON], _ config: Config) throws(ServiceError) -> [String: JSON] {
        var out = object.filter { forwardedCompletionFields.contains($0.key) }
        if let n = out["n"] {
            guard let value = n.intValue, (1...config.completionsMaxN).contains(value) else {
                throw ServiceError.invalidField("n", "n must be an integer from 1 to \(config.completionsMaxN).")
            }
        }
        for field in ["max_tokens", "max_completion_tokens"] {
            if let raw = out[field] {
                guard let value = raw.intValue, value >= 1 else {
                    throw ServiceError.invalidField(
                        field,
                        "\(field) must be a positive integer.")
                }
                out[field] = JSON(min(value, config.completionsMaxTokens))
            }
        }
        if let options = out["stream_options"] {
            guard let include = options["include_usage"]?.boolValue, options.objectValue?.count == 1 else {
                throw ServiceError.invalidField("stream_options", "stream_options may only hold include_usage.")
            }
            out["stream_options"] = ["include_usage": .bool(include)]
        }
        return out
    }
}
