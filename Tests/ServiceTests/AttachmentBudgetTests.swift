@testable import Service
import Testing

@Suite struct AttachmentBudgetTests {
    @Test func videosHaveTheirOwnCapAndEverythingElseShares() throws {
        let config = try Config.load(environment: ["BASE64_MAX_SIZE_MB": "1", "VIDEO_MAX_SIZE_MB": "2"])
        let mb = 1024 * 1024
        #expect(AttachmentBudget.admit(contentType: "image/png", encodedBytes: mb / 2, encodedSoFar: 0, config: config) == .counted)
        #expect(AttachmentBudget.admit(contentType: "image/png", encodedBytes: mb / 2 + 1, encodedSoFar: mb / 2, config: config)
            != .counted, "two images together over BASE64_MAX_SIZE_MB")
        #expect(AttachmentBudget.admit(contentType: "Video/MP4; codecs=avc1", encodedBytes: 2 * mb, encodedSoFar: mb, config: config)
            == .video, "a video within VIDEO_MAX_SIZE_MB, whatever the others weigh")
        #expect(AttachmentBudget.admit(contentType: "video/webm", encodedBytes: 2 * mb + 1, encodedSoFar: 0, config: config) != .video)
    }
}
