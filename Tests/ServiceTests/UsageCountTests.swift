import Support
import Testing

@testable import Service

/// A provider's `usage` is untrusted input: only whole counts in range are believed.
@Suite struct UsageCountTests {
    @Test func plausibleCountsAreRead() {
        #expect(
            ProviderUsage.chat(["prompt_tokens": 10, "completion_tokens": 4]) == TokenCounts(prompt: 10, completion: 4, estimated: false))
        #expect(ProviderUsage.responses(["input_tokens": 0, "output_tokens": 7]) == TokenCounts(prompt: 0, completion: 7, estimated: false))
    }

    @Test func hostileCountsAreNotBelieved() {
        let bad: [JSON] = [
            .number(9.3e18), .number(-1), .number(1.5), .number(.infinity), .number(.nan), "10", .null, .bool(true),
            .number(Double(ProviderUsage.maxTokens) + 1), [1], ["n": 1]
        ]
        for value in bad {
            #expect(ProviderUsage.chat(["prompt_tokens": value, "completion_tokens": 1]) == nil, "\(value.serialized())")
            #expect(ProviderUsage.chat(["prompt_tokens": 1, "completion_tokens": value]) == nil, "\(value.serialized())")
            #expect(ProviderUsage.responses(["input_tokens": value, "output_tokens": 1]) == nil)
        }
        #expect(ProviderUsage.chat(nil) == nil && ProviderUsage.chat("usage") == nil && ProviderUsage.chat(["prompt_tokens": 1]) == nil)
    }

    @Test func theEstimateCountsFourBytesATokenAndFourPerMessage() {
        #expect(TokenEstimate.tokens(bytes: 0) == 0 && TokenEstimate.tokens(bytes: 1) == 1 && TokenEstimate.tokens(bytes: 8) == 2)
        #expect(TokenEstimate.prompt(["hello world!", ""]) == 3 + 4 + 0 + 4)
        #expect(TokenEstimate.prompt(["é"]) == 1 + 4)  // bytes, not characters
    }
}
