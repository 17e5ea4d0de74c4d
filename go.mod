module github.com/boostgen/boostgen

go 1.26.8

require (
	github.com/yalue/onnxruntime_go v1.27.0
	google.golang.org/protobuf v1.36.10
)
