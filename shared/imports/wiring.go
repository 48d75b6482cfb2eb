package imports

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
)

// API is the import routes of the contacts function.
var API = platform.API{Name: "imports", Routes: func(d *platform.Deps, rt *httpx.Router) error {
	NewHandlers(FromDeps(d)).Register(rt)
	return nil
}}

// FromDeps is the imports service over the function's S3 bucket.
func FromDeps(d *platform.Deps) *Service {
	s3c := s3.NewFromConfig(d.AWS, func(o *s3.Options) {
		o.UsePathStyle = d.Config.S3PathStyle
		o.DisableLogOutputChecksumValidationSkipped = true // ranged reads carry no checksum
	})
	return NewService(d.Store, contacts.NewService(d.Store, d.Clock), d.Clock, s3c, d.Config.ImportsBucket)
}
