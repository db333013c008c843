# Code-signing hook of the Windows build: signs one file (an .exe or .dll) with signtool.
#
#   powershell -File installer/windows/sign.ps1 <file>
#
# Used by CI for qwen-desktop.exe and ollama.exe before packing, and by makensis (/DSIGN_SCRIPT)
# for the installer and its uninstaller. Secrets come from the environment (GitHub secrets):
#   WINDOWS_CERT_PFX_BASE64  the code-signing certificate (.pfx), base64-encoded
#   WINDOWS_CERT_PASSWORD    its password
#   WINDOWS_TIMESTAMP_URL    RFC 3161 timestamp server (default http://timestamp.digicert.com)
# Without WINDOWS_CERT_PFX_BASE64 it signs nothing and says so (forks, pull requests): the build
# still succeeds, unsigned. With it, any signtool failure fails the build.
param([Parameter(Mandatory = $true)][string]$File)
$ErrorActionPreference = "Stop"

if (-not $env:WINDOWS_CERT_PFX_BASE64) {
    Write-Host "sign.ps1: WINDOWS_CERT_PFX_BASE64 is not set; $File stays unsigned."
    exit 0
}
$signtool = Get-ChildItem "${env:ProgramFiles(x86)}\Windows Kits\10\bin\*\x64\signtool.exe" |
    Sort-Object FullName -Descending | Select-Object -First 1
if (-not $signtool) { throw "signtool.exe not found: install the Windows 10/11 SDK." }
$pfx = Join-Path $env:RUNNER_TEMP "qwen-desktop-signing.pfx"
[IO.File]::WriteAllBytes($pfx, [Convert]::FromBase64String($env:WINDOWS_CERT_PFX_BASE64))
try {
    $timestamp = if ($env:WINDOWS_TIMESTAMP_URL) { $env:WINDOWS_TIMESTAMP_URL } else { "http://timestamp.digicert.com" }
    & $signtool.FullName sign /fd SHA256 /td SHA256 /tr $timestamp /f $pfx /p $env:WINDOWS_CERT_PASSWORD $File
    if ($LASTEXITCODE -ne 0) { throw "signtool failed ($LASTEXITCODE) on $File" }
} finally {
    Remove-Item $pfx -Force -ErrorAction SilentlyContinue
}
