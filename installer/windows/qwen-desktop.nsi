; NSIS installer of Qwen Desktop for Windows: per-user (no admin rights), Start-menu shortcut,
; optional desktop shortcut, uninstaller; an upgrade replaces the program files and keeps the
; user's data (chats, settings, models live in %LOCALAPPDATA%\qwen-desktop, never in $INSTDIR).
;
; Compile (CI, windows-latest; also compiles with Debian's nsis 3.08 for a syntax check):
;   makensis /DVERSION=0.1.0 /DSOURCE_DIR=..\build\dist\qwen-desktop ^
;            /DICON=..\build\icons\qwen-desktop.ico /DOUT_FILE=..\build\qwen-desktop-setup.exe ^
;            [/DSIGN_SCRIPT=sign.ps1] qwen-desktop.nsi
; SOURCE_DIR is the PyInstaller onedir with the engine already in SOURCE_DIR\ollama
; (installer/fetch_ollama.py). With SIGN_SCRIPT, the installer and the uninstaller are signed
; when written (!finalize / !uninstfinalize): see sign.ps1 (secrets from the environment).

Unicode true
ManifestDPIAware true
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "Pass /DVERSION=x.y.z (qwen_desktop/__init__.py __version__)"
!endif
!ifndef SOURCE_DIR
  !error "Pass /DSOURCE_DIR=path\to\the\PyInstaller\onedir"
!endif
!ifndef OUT_FILE
  !define OUT_FILE "qwen-desktop-${VERSION}-setup.exe"
!endif
!ifndef EXE_NAME
  !define EXE_NAME "qwen-desktop.exe"
!endif

!define APP_NAME "Qwen Desktop"
!define APP_ID "io.github.qwen_desktop.QwenDesktop"
!define PUBLISHER "qwen-desktop developers"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_ID}"

!ifdef SIGN_SCRIPT
  !finalize 'powershell -NoProfile -ExecutionPolicy Bypass -File "${SIGN_SCRIPT}" "%1"' = 0
  !uninstfinalize 'powershell -NoProfile -ExecutionPolicy Bypass -File "${SIGN_SCRIPT}" "%1"' = 0
!endif

Name "${APP_NAME}"
OutFile "${OUT_FILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

!include "MUI2.nsh"
!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE_NAME}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  SetShellVarContext current
FunctionEnd

Function un.onInit
  SetShellVarContext current
FunctionEnd

Section "!${APP_NAME} (required)" SecApp
  SectionIn RO
  ; Upgrade: remove the previous version's program files only (a stale DLL or engine library
  ; next to new ones breaks the app). The user's data is elsewhere and stays.
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\ollama"
  Delete "$INSTDIR\${EXE_NAME}"
  SetOutPath "$INSTDIR"
  File /r "${SOURCE_DIR}\*.*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  CreateDirectory "$SMPROGRAMS"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${EXE_NAME}" "" "$INSTDIR\${EXE_NAME}" 0

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${EXE_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "URLInfoAbout" "https://github.com/qwen-desktop/qwen-desktop"
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${EXE_NAME}" "" "$INSTDIR\${EXE_NAME}" 0
SectionEnd

Section "un.${APP_NAME}" UnSecApp
  SectionIn RO
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  Delete "$DESKTOP\${APP_NAME}.lnk"
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\ollama"
  Delete "$INSTDIR\${EXE_NAME}"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd

; Unticked by default: uninstalling (and upgrading) keeps chats, settings and downloaded models.
Section /o "un.Also remove my chats, settings and downloaded models" UnSecData
  RMDir /r "$LOCALAPPDATA\qwen-desktop"
  RMDir /r "$APPDATA\qwen-desktop"
SectionEnd
