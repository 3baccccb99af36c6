<#
.SYNOPSIS
  Build the dicebox Windows installer: dist\dicebox-<version>-setup-x64.exe

.DESCRIPTION
  The same steps as packaging/linux/build.sh: snapshot the source tree, create a clean build venv,
  `pip install .` plus the pinned PyInstaller into it, freeze the app with packaging\dicebox.spec
  (onedir: dicebox.exe for the command line, dicebox-gui.exe for the Start menu), check the frozen
  executable runs, then compile packaging\windows\dicebox.iss with Inno Setup.

  Run from any folder, in Windows PowerShell 5.1 or PowerShell 7:
    powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1

  Needs: 64-bit CPython 3.10-3.12 from python.org (the py launcher finds it), Inno Setup 6.3 or
  later (ISCC.exe on the PATH or in its default folder), git (optional: for the source snapshot),
  and access to PyPI.

.PARAMETER Python
  The interpreter of the build venv, e.g. C:\Python311\python.exe (default: py -3.11's).

.PARAMETER ReuseVenv
  Keep build\packaging\venv from a previous build and only reinstall dicebox (faster iterations).
#>
[CmdletBinding()]
param(
    [string]$Python = "",
    [switch]$ReuseVenv
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

# Native programs report failure through their exit code, which PowerShell does not turn into an
# error by itself: every call goes through this. A plain function (no param block) so arguments
# such as --noconfirm or -m reach the program untouched instead of being bound as parameters.
function Invoke-Native {
    $exe, $rest = $args
    & $exe @rest
    if ($LASTEXITCODE -ne 0) { throw "$exe $($rest -join ' ') failed with exit code $LASTEXITCODE" }
}

function Write-Step([string]$Message) { Write-Host "`n==> $Message" -ForegroundColor Cyan }

$Started = Get-Date
$Repo = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
$Work = Join-Path $Repo "build\packaging"
$Src = Join-Path $Work "src"
$Venv = Join-Path $Work "venv"
$VenvPython = Join-Path $Venv "Scripts\python.exe"
New-Item -ItemType Directory -Force -Path $Work, (Join-Path $Repo "dist") | Out-Null

# The build must not see the developer's environment (a PYTHONPATH to the checkout would put
# its modules in the bundle instead of the clean venv's).
Remove-Item Env:PYTHONPATH, Env:PYTHONHOME, Env:VIRTUAL_ENV -ErrorAction SilentlyContinue
$env:PYTHONNOUSERSITE = "1"
$env:PIP_DISABLE_PIP_VERSION_CHECK = "1"

if (-not $Python) {
    $Python = (& py -3.11 -c "import sys; print(sys.executable)" 2>$null)
    if ($LASTEXITCODE -ne 0 -or -not $Python) { throw "Python 3.11 not found: pass -Python C:\path\to\python.exe" }
}

Write-Step "snapshot of the source tree"
# pip builds the wheel inside the source folder, where stale files of an older build can slip in;
# a snapshot of exactly the files git would see avoids that (and edits made during the build).
if (Test-Path $Src) { Remove-Item -Recurse -Force $Src }
New-Item -ItemType Directory -Path $Src | Out-Null
$git = Get-Command git -ErrorAction SilentlyContinue
if ($git -and (& git -C $Repo rev-parse --git-dir 2>$null)) {
    $files = & git -C $Repo ls-files --cached --others --exclude-standard
    if ($LASTEXITCODE -ne 0) { throw "git ls-files failed" }
    foreach ($file in $files) {
        $from = Join-Path $Repo $file
        if (-not (Test-Path -LiteralPath $from -PathType Leaf)) { continue }
        $to = Join-Path $Src $file
        New-Item -ItemType Directory -Force -Path (Split-Path $to) | Out-Null
        Copy-Item -LiteralPath $from -Destination $to
    }
} else {
    Get-ChildItem -Path $Repo -Force | Where-Object { $_.Name -notin @("build", "dist", ".git") } |
        Copy-Item -Destination $Src -Recurse -Force
}

if ($ReuseVenv -and (Test-Path (Join-Path $Venv "Scripts\pyinstaller.exe"))) {
    Write-Step "reusing the build venv $Venv"
    Invoke-Native $VenvPython -m pip install --quiet --no-deps --force-reinstall $Src
} else {
    Write-Step "clean build venv ${Venv}: pip install . and PyInstaller"
    if (Test-Path $Venv) { Remove-Item -Recurse -Force $Venv }
    Invoke-Native $Python -m venv $Venv
    Invoke-Native $VenvPython -m pip install --quiet $Src -r (Join-Path $Repo "packaging\requirements-build.txt") `
        -c (Join-Path $Src "requirements\constraints.txt")
}
$Version = (& $VenvPython -c "import dicebox; print(dicebox.__version__)").Trim()
if ($LASTEXITCODE -ne 0) { throw "cannot import dicebox from the build venv" }
Write-Step "dicebox $Version"

Write-Step "PyInstaller (packaging\dicebox.spec)"
# From the work folder: the checkout's dicebox\ must not shadow the installed package.
$Dist = Join-Path $Work "dist"
if (Test-Path $Dist) { Remove-Item -Recurse -Force $Dist }
Push-Location $Work
try {
    Invoke-Native (Join-Path $Venv "Scripts\pyinstaller.exe") --noconfirm --clean --log-level WARN `
        --distpath $Dist --workpath (Join-Path $Work "pyinstaller") (Join-Path $Repo "packaging\dicebox.spec")
} finally {
    Pop-Location
}
$Bundle = Join-Path $Dist "dicebox"
foreach ($exe in @("dicebox.exe", "dicebox-gui.exe")) {
    if (-not (Test-Path (Join-Path $Bundle $exe))) { throw "PyInstaller did not produce $Bundle\$exe" }
}

Write-Step "frozen executable check"
Invoke-Native (Join-Path $Bundle "dicebox.exe") --version

Write-Step "Inno Setup"
$iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) {
    $iscc = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
              "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") | Where-Object { Test-Path $_ } | Select-Object -First 1
}
if (-not $iscc) { throw "ISCC.exe (Inno Setup 6.3+) not found: install it from jrsoftware.org or put it on the PATH" }
# VersionInfoVersion takes numbers only: 0.4.0rc1 -> 0.4.0.
$numeric = ($Version -replace '^(\d+(\.\d+){0,3}).*$', '$1')
Invoke-Native $iscc "/DAppVersion=$Version" "/DNumericVersion=$numeric" "/DBundleDir=$Bundle" `
    "/O$(Join-Path $Repo 'dist')" (Join-Path $Repo "packaging\windows\dicebox.iss")

$Setup = Join-Path $Repo "dist\dicebox-$Version-setup-x64.exe"
$elapsed = (Get-Date) - $Started
$bundleMb = [math]::Round(((Get-ChildItem -Recurse -File $Bundle | Measure-Object -Sum Length).Sum) / 1MB)
Write-Host ("`nbuilt {0}`n  installer: {1} MB   installed: {2} MB   build time: {3:mm\:ss}" -f `
    $Setup, [math]::Round((Get-Item $Setup).Length / 1MB), $bundleMb, $elapsed)
