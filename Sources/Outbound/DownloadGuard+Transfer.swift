import Foundation
import Support

extension DownloadGuard {
    /// What one transfer's hooks find out: the headers of the last answer, and why it was refused.
    final class Transfer {
        var headers: [String: String] = [:]
        var refusal: GuardRefusal?
    }

    /// One attempt at a checked URL. The connection goes to the pinned address only: the name is
    /// pinned for libcurl (no second lookup that could answer differently), and every socket
    /// libcurl opens is checked again against the pin and the address policy.
    static func perform(_ verdict: Verdict, settings: GuardSettings, timeout: Double) -> Result<Attempt, GuardRefusal> {
        let transfer = Transfer()
        let easy: CurlEasy
        do throws(OutboundError) {
            easy = try CurlEasy(
                url: verdict.url.normalized, timeoutMillis: Int(timeout * 1000),
                connectTimeoutMillis: Int(min(timeout, 10) * 1000), maxBytes: settings.maxBytes)
            if case .name(let name) = verdict.url.host { try easy.pin(host: name, port: verdict.url.port, to: verdict.pinned) }
        } catch {
            return .failure(GuardRefusal(.network, error.message))
        }
        easy.freshConnectionOnly()
        easy.userAgent("CryoTensor-fetch/1")
        let pinned = verdict.pinned
        easy.checkConnect { ip in
            // Last line of defence: whatever libcurl wants to connect to must be the checked address.
            guard let ip, ip == pinned else {
                transfer.refusal = GuardRefusal(.blockedAddress, "connection to an address that was not checked")
                return false
            }
            if settings.protection, let reason = AddressPolicy.blockReason(ip, allowed: settings.allowedCIDRs) {
                transfer.refusal = GuardRefusal(.blockedAddress, "\(ip) is \(reason)")
                return false
            }
            return true
        }
        easy.onHeader = { line in
            if line.hasPrefix("HTTP/") { transfer.headers = [:]; return true }
            guard let colon = line.firstIndex(of: ":") else { return true }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            transfer.headers[name] = value
            if name == "content-length", let length = Int(value), length > settings.maxBytes {
                transfer.refusal = GuardRefusal(.tooLarge, "declared \(length) bytes, over the \(settings.maxBytes)-byte cap")
                return false
            }
            return true
        }
        var body: [UInt8] = []
        easy.onBody = { _, bytes in
            body.append(contentsOf: bytes)
            return true
        }
        do throws(OutboundError) {
            try easy.perform()
        } catch {
            return .failure(transfer.refusal ?? refusal(error, settings: settings, timeout: timeout))
        }
        if let refusal = transfer.refusal { return .failure(refusal) }
        let retryAfter = transfer.headers["retry-after"].flatMap { Double($0) }.map { min(max($0, 0), 3600) }
        return .success(
            Attempt(
                status: easy.responseCode, contentType: transfer.headers["content-type"] ?? "application/octet-stream",
                location: transfer.headers["location"], retryAfter: retryAfter, body: body))
    }

    /// A failed transfer in the guard's words.
    static func refusal(_ error: OutboundError, settings: GuardSettings, timeout: Double) -> GuardRefusal {
        switch error.kind {
        case .tooLarge: return GuardRefusal(.tooLarge, "more than \(settings.maxBytes) bytes received")
        case .timeout: return GuardRefusal(.timeout, "no complete answer within \(Int(timeout)) s")
        case .dns: return GuardRefusal(.dnsFailure, "host not found")
        default:
            if error.curlCode == CurlEasy.unsupportedProtocol { return GuardRefusal(.schemeNotAllowed, "protocol refused") }
            return GuardRefusal(.network, error.curlCode == 0 ? error.message : error.curlMessage)
        }
    }
}
