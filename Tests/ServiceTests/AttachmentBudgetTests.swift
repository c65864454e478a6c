import Testing

@testable import Service

@Suite struct AttachmentBudgetTests {
    @Test func videosShareTheirCapAndEverythingElseSharesTheOther() throws {
        let config = try Config.load(environment: ["BASE64_MAX_SIZE_MB": "1", "VIDEO_MAX_SIZE_MB": "2"])
        let mb = 1024 * 1024
        func admit(_ type: String, _ bytes: Int, videos: Int = 0, others: Int = 0) -> AttachmentBudget.Verdict {
            AttachmentBudget.admit(contentType: type, encodedBytes: bytes, videosSoFar: videos, othersSoFar: others, config: config)
        }
        #expect(admit("image/png", mb / 2) == .counted)
        #expect(admit("image/png", mb / 2 + 1, others: mb / 2) != .counted, "two images together over BASE64_MAX_SIZE_MB")
        #expect(admit("Video/MP4; codecs=avc1", 2 * mb, others: mb) == .video, "a video within VIDEO_MAX_SIZE_MB, whatever images weigh")
        #expect(admit("video/webm", 2 * mb + 1) != .video)
        // The type is the remote server's word: eight "videos" still share one cap.
        #expect(admit("video/mp4", mb, videos: 3 * mb / 2) != .video, "videos together over VIDEO_MAX_SIZE_MB")
    }
}
