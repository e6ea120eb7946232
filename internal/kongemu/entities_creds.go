package kongemu

import (
	"crypto/sha1" //nolint:gosec // Kong's basic-auth really stores SHA1(password .. consumer_id)
	"encoding/hex"
)

// Credential entities, from kong/plugins/*/daos.lua. They all hang off a
// consumer (cascade delete) and are reachable both nested
// (/consumers/{c}/key-auth) and at the top level (/key-auths).

func consumerFK() *field {
	return fForeign("consumer", "consumers").Required().OnDelete("cascade")
}

func autoString(name string) *field { return fString(name).Auto() }

func keyAuthDef() *entityDef {
	return &entityDef{
		name: "keyauth_credentials", path: "key-auths", nestedPath: "key-auth",
		endpointKey: "key",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			autoString("key").Unique().Referenceable().Encrypted(),
			tdTags(),
			fInt("ttl").Hidden(),
		},
	}
}

// hashBasicAuthPassword reproduces kong/plugins/basic-auth/crypto.lua:
// hex(sha1(password .. consumer_id)), applied only when the request
// carries a password (Kong's "transformations" run on written fields).
func hashBasicAuthPassword(_ *Server, obj, input map[string]any) *apiError {
	pw, ok := input["password"].(string)
	if !ok {
		return nil
	}
	consumerID := refID(obj["consumer"])
	sum := sha1.Sum([]byte(pw + consumerID)) //nolint:gosec // see import comment
	obj["password"] = hex.EncodeToString(sum[:])
	return nil
}

func basicAuthDef() *entityDef {
	return &entityDef{
		name: "basicauth_credentials", path: "basic-auths", nestedPath: "basic-auth",
		endpointKey: "username",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			fString("username").Required().Unique(),
			fString("password").Required().Encrypted(),
			tdTags(),
		},
		finish: hashBasicAuthPassword,
	}
}

func aclsDef() *entityDef {
	return &entityDef{
		name: "acls", path: "acls",
		endpointKey: "group", scopedKey: true,
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			fString("group").Required(),
			tdTags(),
		},
		cacheKey: []string{"consumer", "group"},
	}
}

func jwtDef() *entityDef {
	return &entityDef{
		name: "jwt_secrets", path: "jwts", nestedPath: "jwt",
		endpointKey: "key",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			autoString("key").Unique().Indexed(),
			autoString("secret"),
			fString("rsa_public_key"),
			fString("algorithm").Default("HS256").OneOf(
				"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
				"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"),
			tdTags(),
		},
		check: func(obj map[string]any) fieldErrors {
			errs := fieldErrors{}
			alg, _ := obj["algorithm"].(string)
			switch alg {
			case "HS256", "HS384", "HS512":
			default:
				if obj["rsa_public_key"] == nil {
					errs["rsa_public_key"] = "required field missing"
				}
			}
			return errs
		},
	}
}

func hmacAuthDef() *entityDef {
	return &entityDef{
		name: "hmacauth_credentials", path: "hmac-auths", nestedPath: "hmac-auth",
		endpointKey: "username",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			fString("username").Required().Unique(),
			autoString("secret"),
			tdTags(),
		},
	}
}

func oauth2Def() *entityDef {
	return &entityDef{
		name: "oauth2_credentials", path: "oauth2",
		endpointKey: "client_id",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			fString("name").Required(),
			autoString("client_id").Unique(),
			autoString("client_secret"),
			fBool("hash_secret").Required().Default(false),
			fArray("redirect_uris", elem("string")),
			fString("client_type").Required().Default("confidential").OneOf("confidential", "public"),
			tdTags(),
		},
	}
}

// mtlsAuthDef is an Enterprise credential in real Kong (open-source Kong
// answers 404 on /mtls-auths); it is emulated because decK manages it.
func mtlsAuthDef() *entityDef {
	return &entityDef{
		name: "mtls_auth_credentials", path: "mtls-auths", nestedPath: "mtls-auth",
		fields: []*field{
			tdID(), tdCreatedAt(),
			consumerFK(),
			fString("subject_name").Required(),
			fForeign("ca_certificate", "ca_certificates"),
			tdTags(),
		},
		cacheKey: []string{"subject_name", "ca_certificate"},
	}
}
