import Foundation
import Support
import Synchronization
import Testing

@testable import Outbound

/// The shared libcurl setup (`CurlEasy`) through its two users: caps, stop hooks, the status
/// callback, no redirect followed, and the mapping of failures.
@Suite struct CurlEasyTests {
    static func failure(_ body: () throws -> Void) -> OutboundError? {
        do { try body() } catch let error as OutboundError { return error } catch { Issue.record("\(error)") }
        return nil
    }

    @Test func collectsABodyAndReportsTheStatusOnce() throws {
        let server = try LoopbackServer(parts: [LoopbackServer.answer(status: 201, body: "hello")])
        let statuses = Mutex<[Int]>([])
        let answer = try HTTPClient.send(
            method: "GET", url: server.url, headers: [],
            onStatus: { status in statuses.withLock { $0.append(status) } })
        #expect(answer.status == 201)
        #expect(answer.body == Array("hello".utf8))
        #expect(statuses.withLock { $0 } == [201])
    }

    @Test func aRedirectIsReturnedNotFollowed() throws {
        let server = try LoopbackServer(parts: [LoopbackServer.answer(status: 302, headers: ["Location: http://127.0.0.1:9/"], body: "")])
        #expect(try HTTPClient.send(method: "GET", url: server.url, headers: []).status == 302)
    }

    @Test func aBodyOverTheCapIsRefused() throws {
        let server = try LoopbackServer(parts: [LoopbackServer.answer(body: String(repeating: "x", count: 101))])
        #expect(throws: OutboundError.self) { try HTTPClient.send(method: "GET", url: server.url, headers: [], maxBytes: 100) }
        let exact = try LoopbackServer(parts: [LoopbackServer.answer(body: String(repeating: "x", count: 100))])
        #expect(try HTTPClient.send(method: "GET", url: exact.url, headers: [], maxBytes: 100).body.count == 100)
    }

    @Test func capAndStopAndAbortHaveTheirKinds() throws {
        func kind(_ body: () throws -> Void) -> OutboundError.Kind? { Self.failure(body)?.kind }
        let big = try LoopbackServer(parts: [LoopbackServer.answer(body: String(repeating: "x", count: 5000))])
        #expect(kind { _ = try HTTPClient.send(method: "GET", url: big.url, headers: [], maxBytes: 10) } == .tooLarge)

        // A server that sends its head, then nothing: the stop hook ends the wait within a second or so.
        let silent = try LoopbackServer(parts: ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "late"], pause: 5)
        let started = Date()
        let stopAfter = started.addingTimeInterval(0.3)
        #expect(
            kind {
                _ = try HTTPClient.send(
                    method: "GET", url: silent.url, headers: [], shouldStop: { Date() > stopAfter }, onChunk: { _ in true })
            } == .stopped)
        #expect(Date().timeIntervalSince(started) < 3)

        let streamed = try LoopbackServer(parts: [LoopbackServer.answer(body: "abc")])
        #expect(kind { _ = try HTTPClient.send(method: "GET", url: streamed.url, headers: [], onChunk: { _ in false }) } == .aborted)
    }

    @Test func failuresAreMappedOnce() throws {
        func error(_ body: () throws -> Void) -> OutboundError? { Self.failure(body) }
        let header = error { _ = try HTTPClient.send(method: "GET", url: "http://127.0.0.1:9/", headers: [("X-Key", "a\r\nEvil: 1")]) }
        #expect(header?.kind == .invalidHeader)
        #expect(header?.message.contains("Evil") == false)
        let ftp = error { _ = try HTTPClient.send(method: "GET", url: "ftp://127.0.0.1/", headers: []) }
        #expect(ftp?.kind == .network)
        #expect(ftp?.curlCode == CurlEasy.unsupportedProtocol)
        let settings = GuardSettings(
            protection: true, allowInsecureHTTP: true, insecureHosts: [], allowedCIDRs: [], maxBytes: 10,
            maxRetries: 0, initialRetryDelay: 0, totalBudget: 5)
        if let ftp { #expect(DownloadGuard.refusal(ftp, settings: settings, timeout: 5).code == .schemeNotAllowed) }
        let refused = error { _ = try HTTPClient.send(method: "GET", url: "http://127.0.0.1:9/", headers: []) }
        #expect(refused?.kind == .network)
    }

    /// The guard's declared-length cap ends the transfer at the header, before any body.
    @Test func theGuardRefusesADeclaredLengthOverItsCap() throws {
        let server = try LoopbackServer(parts: [LoopbackServer.answer(body: String(repeating: "x", count: 64))])
        var settings = GuardSettings(
            protection: false, allowInsecureHTTP: true, insecureHosts: ["127.0.0.1:\(server.port)"],
            allowedCIDRs: [], maxBytes: 10, maxRetries: 0, initialRetryDelay: 0, totalBudget: 5)
        settings.attemptTimeout = 5
        let verdict = try DownloadGuard.check(server.url, settings: settings, resolver: SystemResolver()).get()
        guard case .failure(let refusal) = DownloadGuard.perform(verdict, settings: settings, timeout: 5) else {
            Issue.record("fetched past the cap")
            return
        }
        #expect(refusal.code == .tooLarge)
        #expect(refusal.reason.contains("declared 64 bytes"))
    }
}
