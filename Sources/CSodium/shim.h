#ifndef CSODIUM_SHIM_H
#define CSODIUM_SHIM_H
// libsodium's AES-256-GCM (AES-NI and CLMUL): opening a short transcript value costs about half
// of OpenSSL 3's EVP calls (issue 14). Only opening uses it; sealing stays on OpenSSL.
#include <sodium.h>
#endif
