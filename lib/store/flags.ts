// A yes/no environment variable as the AWS tools, Azure's and GDAL read it (AWS_NO_SIGN_REQUEST=YES).
export function yes (value: string | undefined): boolean {
  return /^(yes|true|on|1)$/i.test(value ?? '')
}
