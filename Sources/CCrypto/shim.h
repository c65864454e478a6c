#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/err.h>
#include <openssl/bn.h>
#include <string.h>

// Public keys from a JWKS (RFC 7517) for ID token signatures. In C because OSSL_PARAM and its
// builder keep the parameter names' pointers until the key is made, which Swift's temporary
// bridging of a string argument does not keep alive. Each returns NULL on any failure.

// An RSA public key from its big-endian modulus and exponent.
static inline EVP_PKEY *ccrypto_rsa_public_key(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen) {
    EVP_PKEY *key = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn && be && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, "n", bn) == 1 && OSSL_PARAM_BLD_push_BN(bld, "e", be) == 1
        && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1) {
        if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) key = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    return key;
}

// A P-256 public key from its uncompressed point (0x04 || x || y, 65 bytes), checked to lie on
// the curve (EVP_PKEY_public_check), so an invalid-curve point is never used.
static inline EVP_PKEY *ccrypto_p256_public_key(const unsigned char *point, size_t len) {
    EVP_PKEY *key = NULL;
    char group[] = "prime256v1";
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string("group", group, 0);
    params[1] = OSSL_PARAM_construct_octet_string("pub", (void *)point, len);
    params[2] = OSSL_PARAM_construct_end();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        EVP_PKEY_CTX_free(check);
    } else {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

// 1 when `key` is of the named type ("RSA", "EC"); a string literal here, not a bridged one.
static inline int ccrypto_key_is_rsa(const EVP_PKEY *key) { return EVP_PKEY_is_a(key, "RSA"); }
static inline int ccrypto_key_is_ec(const EVP_PKEY *key) { return EVP_PKEY_is_a(key, "EC"); }
#endif
