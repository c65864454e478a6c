// swift-tools-version:6.0
import PackageDescription

// Every C dependency comes from Debian's -dev packages through a system-library target.
// No Swift package is fetched: the build stays fast on 2-core CI machines.
let package = Package(
    name: "CryoTensor",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cryotensor", targets: ["cryotensor"])
    ],
    targets: [
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZip", pkgConfig: "libzip", providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        .target(name: "Support"),
        .target(name: "FastCGI", dependencies: ["CFastCGI", "Support"]),
        .target(name: "Crypto", dependencies: ["CCrypto", "CSodium", "Support"]),
        .target(name: "Storage", dependencies: ["CSQLite", "Support", "Crypto", "Postgres"]),
        .target(name: "Cache", dependencies: ["CHiredis", "Support", "Crypto"]),
        .target(name: "Outbound", dependencies: ["CCurl", "Support"]),
        // libpq for DATABASE_URL=postgresql://… (issue 18: the engine behind the repositories; not yet linked into serve).
        .target(name: "Postgres", dependencies: ["CPostgres"]),
        .target(name: "Pipe", dependencies: ["CLZ4", "CZip", "Support", "Crypto", "Storage", "Outbound"]),
        // The domain: settings, secrets, accounts, connections, chats, the pipe, files. Never HTTP.
        .target(name: "Service", dependencies: ["Support", "Crypto", "Storage", "Cache", "Outbound", "Pipe", "Postgres"]),
        // The HTTP layer: routes, context, declared input, error rendering and thin handlers.
        .target(name: "App", dependencies: ["Support", "FastCGI", "Crypto", "Storage", "Cache", "Outbound", "Pipe", "Service"]),
        .executableTarget(
            name: "cryotensor", dependencies: ["App", "Service", "FastCGI", "Storage", "Support", "Crypto", "Pipe", "Postgres"]),

        // The seeded generator every fuzz test draws from, and the engine switch (CT_TEST_ENGINE) with
        // the shared PostgreSQL cluster (a library only the tests link).
        .target(name: "TestSupport", dependencies: ["Postgres"], path: "Tests/TestSupport"),
        .testTarget(name: "SupportTests", dependencies: ["Support", "TestSupport"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "TestSupport"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "TestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Crypto", "Support", "Postgres", "TestSupport"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport", "Storage"]),
        .testTarget(name: "CacheTests", dependencies: ["Cache", "Crypto", "Support", "TestSupport"]),
        .testTarget(name: "OutboundTests", dependencies: ["Outbound", "Support", "TestSupport"]),
        .testTarget(name: "PipeTests", dependencies: ["Pipe", "Crypto", "Support", "Storage", "Postgres", "TestSupport"]),
        .testTarget(name: "AppTests", dependencies: ["App", "Service"]),
        .testTarget(name: "ServiceTests", dependencies: ["Service", "Storage", "Crypto", "Support", "Cache", "Postgres", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Support", "Crypto", "Pipe", "TestSupport"])
    ]
)
