// Command public is the Lambda serving /api/health, /api/openapi.json and
// the JSON 404 of every route no other function owns. It touches no AWS
// service and links no AWS SDK client.
package main

import (
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/public"
)

func main() {
	slog.SetDefault(slog.New(logx.NewHandler(lambdacontext.NewLogHandler())))
	rt := httpx.NewRouter(nil, clock.System{})
	public.Routes(rt)
	lambda.Start(httpx.Lambda(rt))
}
