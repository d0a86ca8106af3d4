module github.com/helseid-go/sdk/helseid/helseidredis

go 1.24.0

require (
	github.com/helseid-go/sdk v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.20.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

// The SDK is developed in the same repository: this module always builds against the core
// beside it.
replace github.com/helseid-go/sdk => ../..
