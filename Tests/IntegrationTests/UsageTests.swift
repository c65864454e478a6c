import Foundation
import Support
import Synchronization
import Testing

/// Runs `body` on `count` threads at once (threads, not a pool: each must really wait).
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread {
            body(index)
            group.leave()
        }.start()
    }
    group.wait()
}

extension JSON {
    func int(_ key: String) -> Int { self[key]?.intValue ?? -1 }
}

@Suite("Usage: recorded from the provider's usage, plain and streamed, or estimated", .serialized)
struct UsageRecordingTests {
    @Test func theProvidersCountsAreRecordedOnEveryPath() throws {
        let org = try OrgStack()
        try org.connection("mock")
        try org.pipe(allowed: [])
        let alice = try org.user("alice@example.com")
        let bob = try org.user("bob@example.com")

        // Plain and streamed /chat/completions: 1 message (10 prompt tokens), 4 deltas (4 completion tokens).
        #expect(try org.completion(alice.client, model: "mock-gpt-4o").status == 200)
        let streamed = try alice.client.streamEvents(
            "/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]], "stream": true])
        #expect(streamed.last?.data == "[DONE]")
        // The stream was asked for its usage, and the caller got the usage chunk as OpenAI sends it.
        let asked = try org.mock.requests().filter { $0["path"]?.stringValue?.hasSuffix("/chat/completions") == true }
        #expect(asked.count == 2)
        #expect(asked.last.flatMap { try? JSON.parse($0["body"]?.stringValue ?? "") }?["stream_options"] == ["include_usage": true])
        #expect(streamed.contains { $0.data.contains("\"usage\"") })

        // A stored chat's message, streamed: 1 message, 4 deltas.
        let chat = try #require(try alice.client.post("/chats", [:]).json?["id"]?.intValue)
        let events = try alice.client.streamEvents("/chats/\(chat)/messages", ["content": "hello", "model": "mock-gpt-4o"])
        #expect(events.last?.data.contains("\"done\"") == true)
        // The pipe: 1 input item, 4 output tokens.
        #expect(try org.message(alice.client, model: "openrouter/mock-gpt-4o").status == 201)
        // Bob's one request is his own.
        #expect(try org.completion(bob.client, model: "mock-gpt-4o-mini").status == 200)

        let rows = try org.usage(alice.client)
        let byModel = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r["model"]?.stringValue.map { ($0, r) } })
        let today = UTCDayString.today
        #expect(rows.allSatisfy { $0["day"]?.stringValue == today && $0.int("user_id") == alice.id })
        let direct = try #require(byModel["mock-gpt-4o"])
        #expect(direct.int("requests") == 3 && direct.int("prompt_tokens") == 30 && direct.int("completion_tokens") == 12)
        #expect(direct.int("estimated_requests") == 0)
        let pipe = try #require(byModel["openrouter/mock-gpt-4o"])
        #expect(pipe.int("requests") == 1 && pipe.int("completion_tokens") == 4 && pipe.int("prompt_tokens") > 0)
        #expect(byModel["mock-gpt-4o-mini"] == nil)  // bob's

        // GET /usage shows only the caller's rows; /admin/usage is the admin's, filtered by user.
        let bobs = try org.usage(bob.client)
        #expect(bobs.count == 1 && bobs.first?.int("user_id") == bob.id && bobs.first?["model"] == "mock-gpt-4o-mini")
        #expect(try bob.client.get("/admin/usage").status == 403)
        #expect(try bob.client.get("/admin/usage?user=\(alice.id)").status == 403)
        #expect(try bob.client.get("/usage?user=\(alice.id)").status == 400)  // no such parameter for users
        let everyone = try org.admin.get("/admin/usage").json?["usage"]?.arrayValue ?? []
        #expect(Set(everyone.map { $0.int("user_id") }) == [alice.id, bob.id])
        let filtered = try org.admin.get("/admin/usage?user=bob%40example.com").json?["usage"]?.arrayValue ?? []
        #expect(filtered.count == 1 && filtered.first?.int("user_id") == bob.id)
        #expect(try org.admin.get("/admin/usage?user=\(alice.id)").json?["usage"]?.arrayValue?.count == rows.count)
        #expect(try org.admin.get("/admin/usage?user=nobody%40example.com").status == 404)

        // Dates are checked.
        for query in [
            "?since=2026-13-01", "?since=yesterday", "?since=2026-02-30", "?since=2026-05-02&until=2026-05-01",
            "?since=2020-01-01&until=2026-01-01", "?since=1e3"
        ] {
            #expect(try alice.client.get("/usage" + query).status == 400, "\(query)")
        }
        #expect(try org.usage(alice.client, "?since=2020-01-01&until=2020-01-31").isEmpty)
        // Unix seconds, as /admin/audit takes them, name the day they fall on.
        let now = Int(Date().timeIntervalSince1970)
        #expect(try org.usage(alice.client, "?since=\(now - 86_400)&until=\(now)").count == rows.count)
        #expect(try alice.client.get("/usage?since=123456789012").status == 400)
    }

    @Test func withoutUsageTheTokensAreEstimatedAndMarked() throws {
        let org = try OrgStack(mockArgs: ["--usage", "none"])
        try org.connection("mock")
        let alice = try org.user("alice@example.com")
        #expect(try org.completion(alice.client, model: "mock-gpt-4o").status == 200)
        _ = try alice.client.streamEvents(
            "/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]], "stream": true])
        #expect(try org.message(alice.client, model: "mock-gpt-4o").status == 201)
        let row = try #require(try org.usage(alice.client).first)
        #expect(row.int("requests") == 3 && row.int("estimated_requests") == 3)
        // About a token per 4 bytes: a few tokens each, never zero.
        #expect((3...200).contains(row.int("prompt_tokens")) && (3...200).contains(row.int("completion_tokens")))
    }

    @Test func aHostileProvidersNumbersAreNotBelieved() throws {
        // 2^63 prompt tokens and -5 completion tokens: estimated instead, so nothing overflows and nothing is paid back.
        let org = try OrgStack(mockArgs: ["--usage", "hostile"])
        try org.connection("mock")
        let alice = try org.user("alice@example.com")
        let team = try org.group("capped", members: [alice.id], quota: 10_000)
        #expect(team > 0)
        for _ in 0..<3 { #expect(try org.completion(alice.client, model: "mock-gpt-4o").status == 200) }
        _ = try alice.client.streamEvents(
            "/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]], "stream": true])
        let row = try #require(try org.usage(alice.client).first)
        #expect(row.int("requests") == 4 && row.int("estimated_requests") == 4)
        #expect((1...1000).contains(row.int("prompt_tokens")) && (1...1000).contains(row.int("completion_tokens")))
        let quota = try alice.client.get("/usage").json?["quota"]
        #expect(quota?.int("used_today") == row.int("prompt_tokens") + row.int("completion_tokens") && quota?.int("reserved_today") == 0)
    }
}

@Suite("Daily quotas: reserved before, settled after, atomic under concurrency", .serialized)
struct QuotaTests {
    @Test func theQuotaHoldsUnderSixteenConcurrentRequests() throws {
        // Each answer: 5 deltas 0.2 s apart (1 s in flight), 10 prompt + 5 completion = 15 tokens.
        let org = try OrgStack(mockArgs: ["--chunks", "5", "--delay", "0.2"])
        try org.connection("mock")
        let alice = try org.user("alice@example.com")
        let quota = 100
        _ = try org.group("capped", members: [alice.id], quota: quota)
        // No per-user stream limit in the way; reserve 1 completion token, so that reservations
        // (the prompt's estimate, 12, + 1) fall short of the real 15 and the overshoot can show.
        #expect(try org.admin.patch("/admin/config", ["max_streams_per_user": 64, "quota_reserve_tokens": 1]).status == 200)
        let bearer = try org.bearer("alice@example.com")
        let outcomes = Mutex<[(Int, String?)]>([])
        onThreads(16) { index in
            let r = try? bearer.post(
                "/chat/completions",
                ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]], "stream": .bool(index % 2 == 0)])
            outcomes.withLock { $0.append((r?.status ?? 0, r?.header("Retry-After"))) }
        }
        let results = outcomes.withLock { $0 }
        let admitted = results.filter { $0.0 == 200 }.count
        let refused = results.filter { $0.0 == 429 }
        #expect(admitted + refused.count == 16, "\(results)")
        #expect(admitted >= 1 && !refused.isEmpty)
        let secondsToMidnight = 86_400 - Int(Date().timeIntervalSince1970) % 86_400
        for (_, retry) in refused {
            let wait = Int(retry ?? "") ?? -1
            #expect(abs(wait - secondsToMidnight) <= 5, "Retry-After \(retry ?? "none")")
        }
        // What was used: every admitted answer's real 15 tokens. The documented bound: the quota
        // plus, for each answer admitted, what it used beyond its reservation: 15 - 13 = 2 for a
        // full one; during the burst the room only shrinks, so at most one answer got the little
        // that was left (at least 1 token) and overshot by at most 14.
        let row = try #require(try org.usage(alice.client).first)
        let used = row.int("prompt_tokens") + row.int("completion_tokens")
        #expect(row.int("requests") == admitted && used == 15 * admitted)
        #expect(used <= quota + admitted * 2 + 14, "used \(used) of \(quota) with \(admitted) admitted")
        print("quota test: \(admitted) of 16 admitted, \(used) tokens used of \(quota)")
        let ledger = try #require(try alice.client.get("/usage").json?["quota"])
        #expect(ledger.int("used_today") == used && ledger.int("reserved_today") == 0 && ledger.int("daily_token_quota") == quota)

        // Now used up: every path answers 429 with Retry-After, the pipe and stored chats too.
        let blocked = try org.completion(alice.client, model: "mock-gpt-4o")
        if used >= quota {
            #expect(blocked.status == 429 && blocked.errorCode == "quota_exceeded" && blocked.header("Retry-After") != nil)
            let message = try org.message(alice.client, model: "mock-gpt-4o")
            #expect(message.status == 429 && message.errorCode == "quota_exceeded")
            // Refused before anything of the turn was written.
            let chats = try alice.client.get("/chats").json?["chats"]?.arrayValue ?? []
            #expect(chats.allSatisfy { $0["title"] == "" })
        }
    }

    @Test func quotaBypassesAreClosed() throws {
        let org = try OrgStack()
        try org.connection("mock")
        try org.pipe(allowed: [])
        let alice = try org.user("alice@example.com")
        _ = try org.group("zero", members: [alice.id], quota: 0)
        // A quota of 0 admits nothing, on any path.
        #expect(try org.completion(alice.client, model: "mock-gpt-4o").errorCode == "quota_exceeded")
        #expect(try org.completion(alice.client, model: "mock-gpt-4o", stream: true).errorCode == "quota_exceeded")
        #expect(try org.message(alice.client, model: "mock-gpt-4o").errorCode == "quota_exceeded")
        #expect(try org.message(alice.client, model: "openrouter/mock-gpt-4o").errorCode == "quota_exceeded")
        #expect(try org.mock.requests().filter { $0["method"] == "POST" }.isEmpty)

        // Several groups: the most generous quota applies; a group without one does not lift it.
        _ = try org.group("no-quota", members: [alice.id])
        #expect(try org.completion(alice.client, model: "mock-gpt-4o").errorCode == "quota_exceeded")
        _ = try org.group("generous", members: [alice.id], quota: 1_000)
        #expect(try org.completion(alice.client, model: "mock-gpt-4o").status == 200)
        // A tiny max_tokens buys nothing: the real count is settled, not the reservation.
        let before = try #require(try alice.client.get("/usage").json?["quota"]).int("used_today")
        #expect(try org.completion(alice.client, model: "mock-gpt-4o", extra: ["max_tokens": 1]).status == 200)
        let after = try #require(try alice.client.get("/usage").json?["quota"]).int("used_today")
        #expect(after - before == 14)  // the provider's 10 + 4, not the reserved 1

        // A stopped or failed answer gives its reservation back.
        #expect(try alice.client.get("/usage").json?["quota"]?.int("reserved_today") == 0)
    }

    @Test func aFailedProviderCallReleasesItsReservation() throws {
        // The provider accepts the request, then drops it before the first word.
        let org = try OrgStack(mockArgs: ["--cut-after", "0"])
        try org.connection("mock")
        let alice = try org.user("alice@example.com")
        _ = try org.group("capped", members: [alice.id], quota: 50)
        _ = try alice.client.streamEvents(
            "/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]], "stream": true])
        let chat = try #require(try alice.client.post("/chats", [:]).json?["id"]?.intValue)
        let events = try alice.client.streamEvents("/chats/\(chat)/messages", ["content": "hello", "model": "mock-gpt-4o"])
        #expect(events.last?.data.contains("\"error\"") == true)
        #expect(try org.mock.requests().filter { $0["method"] == "POST" }.count == 2)
        // Nothing arrived, nothing is counted, and both reservations were given back.
        let quota = try #require(try alice.client.get("/usage").json?["quota"])
        #expect(quota.int("reserved_today") == 0 && quota.int("used_today") == 0)
        #expect(try org.usage(alice.client).isEmpty)
    }

    @Test func aStoppedAnswerIsCountedByEstimateAndReleasesTheRest() throws {
        // 40 deltas 0.1 s apart: 4 s if nobody stops it.
        let org = try OrgStack(mockArgs: ["--chunks", "40", "--delay", "0.1"])
        try org.connection("mock")
        let alice = try org.user("alice@example.com")
        _ = try org.group("capped", members: [alice.id], quota: 100_000)
        let chat = try #require(try alice.client.post("/chats", [:]).json?["id"]?.intValue)
        let stopper = try org.bearer("alice@example.com")
        let reservedMidway = Mutex<Int>(-1)
        onThreads(2) { index in
            if index == 0 {
                _ = try? alice.client.streamEvents("/chats/\(chat)/messages", ["content": "long answer please", "model": "mock-gpt-4o"])
            } else {
                usleep(1_000_000)
                let midway = (try? stopper.get("/usage").json?["quota"]?.int("reserved_today")) ?? -1
                reservedMidway.withLock { $0 = midway }
                _ = try? stopper.post("/chats/\(chat)/stop", [:])
            }
        }
        // While it streamed, the answer held a reservation: its prompt's estimate plus quota_reserve_tokens.
        #expect(reservedMidway.withLock { $0 } > 1024)
        let quota = try #require(try alice.client.get("/usage").json?["quota"])
        #expect(quota.int("reserved_today") == 0)
        let row = try #require(try org.usage(alice.client).first)
        // A stopped stream never reached the usage chunk: the words that arrived are estimated.
        #expect(row.int("requests") == 1 && row.int("estimated_requests") == 1)
        #expect(row.int("completion_tokens") >= 1 && row.int("completion_tokens") < 40)
        #expect(quota.int("used_today") == row.int("prompt_tokens") + row.int("completion_tokens"))
    }
}

/// Today's UTC day as the service writes it.
enum UTCDayString {
    static var today: String {
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date())
    }
}
