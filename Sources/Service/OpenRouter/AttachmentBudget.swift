import Foundation

/// How much a message's attachments may weigh once base64-encoded (SPEC section 6: inline payloads
/// and inline video have their own caps): videos together within VIDEO_MAX_SIZE_MB, everything
/// else together within BASE64_MAX_SIZE_MB. The content type comes from the remote server, so a
/// "video" gains nothing but the other budget: a message never holds more than the two caps.
package enum AttachmentBudget {
    package enum Verdict: Equatable {
        case counted  // within BASE64_MAX_SIZE_MB, counted toward it
        case video  // within VIDEO_MAX_SIZE_MB, counted toward the videos' total
        case refused(String)
    }

    /// `videosSoFar` and `othersSoFar`: encoded bytes already admitted in each budget.
    package static func admit(contentType: String, encodedBytes: Int, videosSoFar: Int, othersSoFar: Int, config: Config) -> Verdict {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type.hasPrefix("video/") {
            let cap = Int(config.videoMaxMB * 1024 * 1024)
            return videosSoFar + encodedBytes <= cap ? .video : .refused("the message's videos are over VIDEO_MAX_SIZE_MB once encoded")
        }
        let cap = Int(config.base64MaxMB * 1024 * 1024)
        return othersSoFar + encodedBytes <= cap
            ? .counted
            : .refused("the message's attachments are over BASE64_MAX_SIZE_MB once encoded")
    }
}
