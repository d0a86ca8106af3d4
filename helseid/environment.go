package helseid

// Issuer identifiers of the HelseID environments, exactly as their discovery documents give
// them (no trailing slash). They are also the audience of every client assertion.
const (
	// TestIssuer is HelseID's test environment, for development and the QA that NHN requires
	// before production (FK6).
	TestIssuer = "https://helseid-sts.test.nhn.no"
	// ProductionIssuer is HelseID's production environment.
	ProductionIssuer = "https://helseid-sts.nhn.no"
)
