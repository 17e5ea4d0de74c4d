module github.com/boostgen/boostgen

go 1.26.8

require (
	github.com/disintegration/imaging v1.6.2
	github.com/yalue/onnxruntime_go v1.27.0
	google.golang.org/protobuf v1.36.10
)

require golang.org/x/image v0.0.0-20191009234506-e7c1f5e7dbb8 // indirect
