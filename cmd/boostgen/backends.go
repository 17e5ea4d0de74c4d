package main

// Storage backends that --out and OUT arguments may name. The S3 backend
// takes its endpoint, credentials and addressing style from the standard
// AWS environment and config files (AWS_ENDPOINT_URL_S3, AWS_PROFILE, ...).
import _ "github.com/boostgen/boostgen/internal/blob/s3"
