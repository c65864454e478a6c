import Foundation

/// How much a message's attachments may weigh once base64-encoded (SPEC section 6: inline payloads
/// and inline video have their own caps): a video alone within VIDEO_MAX_SIZE_MB, everything else
/// together within BASE64_MAX_SIZE_MB.
package enum AttachmentBudget {
    package enum Verdict: Equatable {
        case counted        // within BASE64_MAX_SIZE_MB, counted toward it
        case video          // a video within VIDEO_MAX_SIZE_MB, on its own budget
        case refused(String)
    }

    package static func admit(contentType: String, encodedBytes: Int, encodedSoFar: Int, config: Config) -> Verdict {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type.hasPrefix("video/") {
            let cap = Int(config.videoMaxMB * 1024 * 1024)
            return encodedBytes <= cap ? .video : .refused("the video is over VIDEO_MAX_SIZE_MB once encoded")
        }
        let cap = Int(config.base64MaxMB * 1024 * 1024)
        return encodedSoFar + encodedBytes <= cap ? .counted
            : .refused("the message's attachments are over BASE64_MAX_SIZE_MB once encoded")
    }
}
